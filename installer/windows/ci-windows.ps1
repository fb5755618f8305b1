<#
.SYNOPSIS
    Windows CI: build the cpu installer, install it silently, run it as a clinic PC does,
    uninstall it and check that the user data survived. The Windows twin of installer/ci-check.sh.

.DESCRIPTION
    .github/workflows/windows-installer.yml runs this script (under PowerShell 7) and uploads -Out;
    everything the job does is here, so it can be run by hand on any Windows 10 1809+/11 PC with
    Python 3.11 x64, as an administrator:

        pwsh -File installer\windows\ci-windows.ps1 -Python C:\Python311\python.exe

    Steps, and their Linux counterparts in installer/ci-check.sh / tests/installer:
      1. Inno Setup 6.3+ present (installed with Chocolatey on a CI runner when missing)
      2. build.ps1 --flavor cpu under Windows PowerShell 5.1 (-File, GNU options, --dist=C:\...)
                                                        <-> build.sh --flavor cpu
      3. pytest tests/installer against the built bundle <-> the same pytest run in ci-check.sh
      4. silent install with the desktopicon and shareddata tasks
                                                        <-> test_linux_install_and_uninstall (install.sh)
      5. pytest tests/installer -m installer against the installed copy (test_windows_install.py too)
      6. frozen labapp-batch on the bundled samples with --report, once with the user's own data
         folder and once with the machine-wide one     <-> test_batch_report_offline_without_python
      7. labapp --screenshot with the real "windows" platform plugin <-> test_gui_on_x11 (Xvfb)
      8. silent uninstall; program, shortcuts and LABAPP_DATA_DIR gone, both case databases kept
                                                        <-> test_linux_install_and_uninstall
      9. the installer, the screenshot, the reports and the logs go to -Out (uploaded by the job)
#>
[CmdletBinding()]
param(
    [string] $Python = '',
    [string] $Out = 'build\ci-windows',
    [string] $Dist = 'dist'
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
. (Join-Path $PSScriptRoot 'common.ps1')

$Root = (Resolve-Path (Join-Path $PSScriptRoot '..\..')).Path
Set-Location $Root
New-Item -ItemType Directory -Force -Path $Out, $Dist | Out-Null
$Out = (Resolve-Path $Out).Path
$DistFull = (Resolve-Path $Dist).Path
$Started = Get-Date
function Step([string] $Message) { Write-Host "[ci-windows $([int]((Get-Date) - $Started).TotalSeconds)s] $Message" }
if (-not $Python) { $Python = (Get-Command python -ErrorAction Stop).Source }

$AppName = 'ALL Subtype Workstation'
$AppId = '{3B6E2A51-9C4D-4F1E-A7B2-5D8C0E6F4A13}_is1'
$UninstallKey = "HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\$AppId"
$App = Join-Path $env:ProgramFiles $AppName
$SharedData = Join-Path $env:ProgramData 'ALL-Workstation'
$UserData = Join-Path $env:LOCALAPPDATA 'ALL-Workstation'
$StartMenu = Join-Path $env:ProgramData "Microsoft\Windows\Start Menu\Programs\$AppName\$AppName.lnk"
$Desktop = Join-Path $env:PUBLIC "Desktop\$AppName.lnk"
$UsersSid = New-Object System.Security.Principal.SecurityIdentifier('S-1-5-32-545')  # BUILTIN\Users

function Assert-True([bool] $Condition, [string] $Message) { if (-not $Condition) { throw "ci-windows: $Message" } }

function Test-UsersCanModify([string] $Path) {
    # An inherited or explicit ACE that lets BUILTIN\Users modify $Path (what another technician needs).
    foreach ($ace in (Get-Acl -LiteralPath $Path).Access) {
        try { $sid = $ace.IdentityReference.Translate([System.Security.Principal.SecurityIdentifier]) } catch { continue }
        if ($sid -eq $UsersSid -and $ace.AccessControlType -eq 'Allow' -and
            ($ace.FileSystemRights -band [System.Security.AccessControl.FileSystemRights]::Modify) -eq
            [System.Security.AccessControl.FileSystemRights]::Modify) { return $true }
    }
    return $false
}

function Get-PngSize([string] $Path) {
    $b = [System.IO.File]::ReadAllBytes($Path)
    Assert-True ($b.Length -gt 24 -and $b[1] -eq 0x50 -and $b[2] -eq 0x4E -and $b[3] -eq 0x47) "$Path is not a PNG"
    $w = ($b[16] -shl 24) -bor ($b[17] -shl 16) -bor ($b[18] -shl 8) -bor $b[19]
    $h = ($b[20] -shl 24) -bor ($b[21] -shl 16) -bor ($b[22] -shl 8) -bor $b[23]
    return @($w, $h)
}

function Start-Gui([string] $Exe, [string[]] $Arguments, [int] $TimeoutSeconds = 600) {
    # labapp.exe is a windowed program: '&' would not wait for it. Quote each argument ourselves
    # (Start-Process joins them with spaces).
    $quoted = $Arguments | ForEach-Object { if ($_ -match '[\s"]') { '"' + ($_ -replace '"', '\"') + '"' } else { $_ } }
    $p = Start-Process -FilePath $Exe -ArgumentList $quoted -PassThru
    if (-not $p.WaitForExit($TimeoutSeconds * 1000)) { $p.Kill(); throw "ci-windows: $Exe did not finish in $TimeoutSeconds s" }
    return $p.ExitCode
}

# -- 1. Inno Setup --------------------------------------------------------------------------------
$iscc = Find-Iscc
if (-not $iscc -and $env:CI -and (Get-Command choco -ErrorAction SilentlyContinue)) {
    Step 'installing Inno Setup (Chocolatey)'
    Invoke-Native 'choco' @('install', 'innosetup', '-y', '--no-progress') -What 'choco install innosetup'
    $iscc = Find-Iscc
}
Assert-True ($null -ne $iscc) 'Inno Setup 6.3 or newer is not installed'
Step "Inno Setup $($iscc.Version): $($iscc.Path)"

# -- 2. Build under Windows PowerShell 5.1, as the docs tell a lab to ----------------------------
Step 'build.ps1 --flavor cpu (Windows PowerShell 5.1)'
$winPs = Join-Path $env:SystemRoot 'System32\WindowsPowerShell\v1.0\powershell.exe'
Invoke-Native $winPs @('-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-File', 'installer\build.ps1',
    '--flavor', 'cpu', "--dist=$DistFull", '--python', $Python, '--require-gui', '--iscc', $iscc.Path) -What 'build.ps1'
$Bundle = Join-Path $DistFull 'labapp-cpu'
$Info = Read-BuildInfo $Bundle
$Version = $Info.app_version
$Setup = Join-Path $DistFull "labapp-$Version-windows-x64-cpu-setup.exe"
Assert-True (Test-Path $Setup) "$Setup was not made"
Copy-Item $Setup, (Join-Path $Bundle '_internal\build_info.json') $Out

# -- 3. The Python checks of the bundle (a test venv, not the build venv) -------------------------
$TestVenv = Join-Path $Root 'build\venv-test'
$TestPy = Join-Path $TestVenv 'Scripts\python.exe'
if (-not (Test-Path $TestPy)) {
    Step "creating $TestVenv"
    Invoke-Native $Python @('-m', 'venv', $TestVenv)
}
Invoke-Native $TestPy @('-m', 'pip', 'install', '-q', '--disable-pip-version-check', '-c', 'installer\constraints-cpu.txt', '-e', '.[test]') -What 'pip install -e .[test]'
$env:LABAPP_BUNDLE = $Bundle
Step 'pytest tests/installer (built bundle)'
Invoke-Native $TestPy @('-m', 'pytest', 'tests/installer', '-v', '-rs', '-p', 'no:cacheprovider',
    "--junitxml=$Out\pytest-bundle.xml") -What 'pytest (bundle)'

# -- 4. Silent install --------------------------------------------------------------------------
Step 'installing silently (tasks desktopicon, shareddata)'
$p = Start-Process -FilePath $Setup -PassThru -Wait -ArgumentList @('/VERYSILENT', '/SUPPRESSMSGBOXES', '/NORESTART',
    '/TASKS=desktopicon,shareddata', "/LOG=`"$Out\setup.log`"")
Assert-True ($p.ExitCode -eq 0) "setup exited with $($p.ExitCode) (see setup.log)"
Assert-True (Test-Path (Join-Path $App 'labapp.exe')) "$App\labapp.exe missing"
Assert-True (Test-Path (Join-Path $App 'labapp-batch.exe')) "$App\labapp-batch.exe missing"
Assert-True ((Get-ItemProperty $UninstallKey).DisplayVersion -eq $Version) 'uninstall entry has another version'
Assert-True (Test-Path $StartMenu) "Start menu shortcut $StartMenu missing"
Assert-True (Test-Path $Desktop) "desktop shortcut $Desktop missing"
Assert-True (Test-Path $SharedData) "shared data folder $SharedData missing"
Assert-True (Test-UsersCanModify $SharedData) "Users cannot modify $SharedData"
$machineVar = [Environment]::GetEnvironmentVariable('LABAPP_DATA_DIR', 'Machine')
Assert-True ($machineVar -eq $SharedData) "LABAPP_DATA_DIR for all users is '$machineVar', not $SharedData"
foreach ($exe in 'labapp.exe', 'labapp-batch.exe', 'labapp-report.exe', 'labapp-users.exe') {
    $vi = (Get-Item (Join-Path $App $exe)).VersionInfo
    Assert-True ($vi.ProductName -eq $AppName) "$exe has no version resource"
}

# -- 5. The installed copy, checked like the built one --------------------------------------------
$env:LABAPP_BUNDLE = $App
$env:LABAPP_INSTALLED = '1'
Step 'pytest tests/installer -m installer (installed copy)'
Invoke-Native $TestPy @('-m', 'pytest', 'tests/installer', '-m', 'installer', '-v', '-rs', '-p', 'no:cacheprovider',
    "--junitxml=$Out\pytest-installed.xml") -What 'pytest (installed)'
Remove-Item Env:\LABAPP_INSTALLED, Env:\LABAPP_BUNDLE

# -- 6. labapp-batch with --report: the user's own data folder, then the shared one ---------------
$Samples = Join-Path $App '_internal\resources\samples'
Remove-Item Env:\LABAPP_DATA_DIR, Env:\LABAPP_CONFIG_DIR, Env:\QT_QPA_PLATFORM -ErrorAction SilentlyContinue
Step 'labapp-batch --report (per-user data)'
Invoke-Native (Join-Path $App 'labapp-batch.exe') @($Samples, '--out', "$Out\batch-user", '--report',
    '--patient-id', 'CI-WINDOWS-USER', '--quiet') -What 'labapp-batch (user data)'
$env:LABAPP_DATA_DIR = $machineVar   # what a new logon session gets from the machine environment
Step 'labapp-batch --report (shared data)'
Invoke-Native (Join-Path $App 'labapp-batch.exe') @($Samples, '--out', "$Out\batch-shared", '--report',
    '--patient-id', 'CI-WINDOWS-SHARED', '--quiet') -What 'labapp-batch (shared data)'
Remove-Item Env:\LABAPP_DATA_DIR
foreach ($dir in "$Out\batch-user", "$Out\batch-shared") {
    foreach ($f in 'results.json', 'results.csv', 'report.pdf') { Assert-True (Test-Path (Join-Path $dir $f)) "$dir\$f missing" }
}
$UserDb = Join-Path $UserData 'cases.sqlite3'
$SharedDb = Join-Path $SharedData 'cases.sqlite3'
Assert-True (Test-Path $UserDb) "$UserDb missing"
Assert-True (Test-Path $SharedDb) "$SharedDb missing"
Assert-True (Test-UsersCanModify $SharedDb) "another user could not write $SharedDb (ACL not inherited)"

# -- 7. The window with the real Windows platform plugin ------------------------------------------
Step 'labapp --screenshot (QT_QPA_PLATFORM=windows)'
$env:QT_QPA_PLATFORM = 'windows'
$Shot = Join-Path $Out 'screenshot-windows.png'
$code = Start-Gui (Join-Path $App 'labapp.exe') @('--open', $Samples, '--screenshot', $Shot, '--size', '1366x768')
Remove-Item Env:\QT_QPA_PLATFORM
Assert-True ($code -eq 0) "labapp --screenshot exited with $code (see $UserData\labapp.log)"
$size = Get-PngSize $Shot
Assert-True ($size[0] -ge 400 -and $size[1] -ge 300) "screenshot is only $($size[0])x$($size[1])"
Step "screenshot $($size[0])x$($size[1])"

# -- 8. Silent uninstall; the data stays -------------------------------------------------------------
$before = @{}
foreach ($db in $UserDb, $SharedDb) { $before[$db] = (Get-FileHash $db -Algorithm SHA256).Hash }
Step 'uninstalling silently'
$uninstaller = Join-Path $App 'unins000.exe'
# The uninstaller copies itself to %TEMP% and exits at once: wait for the result instead.
Start-Process -FilePath $uninstaller -Wait -ArgumentList @('/VERYSILENT', '/SUPPRESSMSGBOXES', '/NORESTART', "/LOG=`"$Out\uninstall.log`"")
Wait-Until { -not (Test-Path $UninstallKey) -and -not (Test-Path (Join-Path $App 'labapp.exe')) } -TimeoutSeconds 300 -What 'the uninstaller'
Assert-True (-not (Test-Path (Join-Path $App '_internal'))) "$App\_internal left behind"
Assert-True (-not (Test-Path $StartMenu)) 'Start menu shortcut left behind'
Assert-True (-not (Test-Path $Desktop)) 'desktop shortcut left behind'
Assert-True ($null -eq [Environment]::GetEnvironmentVariable('LABAPP_DATA_DIR', 'Machine')) 'LABAPP_DATA_DIR left behind'
foreach ($db in $UserDb, $SharedDb) {
    Assert-True (Test-Path $db) "$db was removed by the uninstaller"
    Assert-True ((Get-FileHash $db -Algorithm SHA256).Hash -eq $before[$db]) "$db changed during uninstall"
}
Step "uninstalled; case databases kept: $UserDb, $SharedDb"
Step "done in $([int]((Get-Date) - $Started).TotalSeconds) s; artefacts in $Out"
