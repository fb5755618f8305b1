<#
.SYNOPSIS
    Build the Windows one-folder bundle (labapp.exe + labapp-batch.exe) and its Inno Setup installer.

.DESCRIPTION
    The Windows twin of installer/build.sh, with the same options:

        powershell -ExecutionPolicy Bypass -File installer\build.ps1 --flavor cpu --dist dist
        powershell -ExecutionPolicy Bypass -File installer\build.ps1 -Flavor cpu -Dist dist

    1. creates build\venv-<flavor> (never the development .venv) and installs exactly the versions
       of installer\constraints-<flavor>.txt; installer\check_pins.py refuses anything unpinned;
    2. runs PyInstaller on installer\labapp.spec -> DIST\labapp-<flavor>\;
    3. when Inno Setup 6 (ISCC.exe) is installed, compiles installer\windows\labapp.iss ->
       DIST\labapp-<version>-windows-x64-<flavor>-setup.exe.

    Needs 64-bit Python 3.11 (python.org installer or the py launcher) and, for step 3, Inno Setup 6.
    The cuda flavor needs a CUDA build of torch: pass the PyTorch wheel index with -TorchIndexUrl
    (PyPI's Windows torch wheels are CPU-only).

.PARAMETER Flavor
    cpu (ONNX Runtime, no torch) or cuda (adds torch). --flavor works too.
.PARAMETER Dist
    Output folder (default dist). --dist works too.
.PARAMETER ModelDir
    Bundle this model dir instead of resources\models\* (test builds only). --model-dir works too.
.PARAMETER Python
    Python used to create the build venv (default: py -3.11, else python).
.PARAMETER NoInstaller
    Stop after the bundle (no Inno Setup step). --no-installer works too.
.PARAMETER RequireGui
    Fail when lab_app\app.py is missing instead of building labapp-batch alone. --require-gui too.
#>
[CmdletBinding(PositionalBinding = $false)]
param(
    [ValidateSet('cpu', 'cuda')] [string] $Flavor = 'cpu',
    [string] $Dist = 'dist',
    [string[]] $ModelDir = @(),
    [string] $Python = '',
    [string] $TorchIndexUrl = '',
    [string] $Iscc = '',
    [switch] $NoInstaller,
    [switch] $RequireGui,
    [Parameter(ValueFromRemainingArguments = $true)] [string[]] $Rest = @()
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

# GNU-style options, as build.sh takes them (--flavor cpu, --dist=DIR, ...).
for ($i = 0; $i -lt $Rest.Count; $i++) {
    $arg = $Rest[$i]
    $value = $null
    if ($arg -match '^(--[a-z-]+)=(.*)$') { $arg = $Matches[1]; $value = $Matches[2] }
    $needsValue = @('--flavor', '--dist', '--model-dir', '--python', '--torch-index-url', '--iscc') -contains $arg
    if ($needsValue -and $null -eq $value) {
        if ($i + 1 -ge $Rest.Count) { throw "build.ps1: $arg needs a value" }
        $i++
        $value = $Rest[$i]
    }
    switch ($arg) {
        '--flavor' {
            if (@('cpu', 'cuda') -notcontains $value) { throw 'build.ps1: --flavor must be cpu or cuda' }
            $Flavor = $value
        }
        '--dist' { $Dist = $value }
        '--model-dir' { $ModelDir += $value }
        '--python' { $Python = $value }
        '--torch-index-url' { $TorchIndexUrl = $value }
        '--iscc' { $Iscc = $value }
        '--no-installer' { $NoInstaller = $true }
        '--no-tarball' { }  # accepted for symmetry with build.sh; there is no tarball on Windows
        '--require-gui' { $RequireGui = $true }
        default { throw "build.ps1: unknown option $arg" }
    }
}

function Invoke-Native {
    # Run a program; PowerShell does not stop on a failing exit code by itself.
    param([Parameter(Mandatory = $true)] [string] $Exe, [string[]] $Arguments = @())
    & $Exe @Arguments
    if ($LASTEXITCODE -ne 0) { throw "build.ps1: '$Exe $($Arguments -join ' ')' failed with exit code $LASTEXITCODE" }
}

$Root = Split-Path -Parent $PSScriptRoot
Set-Location $Root
$Started = Get-Date
function Step([string] $Message) {
    $s = [int]((Get-Date) - $Started).TotalSeconds
    Write-Host "[build.ps1 ${s}s] $Message"
}

$Constraints = "installer\constraints-$Flavor.txt"
if (-not (Test-Path $Constraints)) { throw "build.ps1: $Constraints does not exist" }
$Venv = "build\venv-$Flavor"
$VenvPy = Join-Path $Venv 'Scripts\python.exe'
$Work = "build\pyi-$Flavor"
New-Item -ItemType Directory -Force -Path $Dist | Out-Null
$DistFull = (Resolve-Path $Dist).Path

# 1. The build venv: exact pins, nothing else; made again when another Python is asked for.
if ($Python) { $PyCmd = @($Python) }
elseif (Get-Command py -ErrorAction SilentlyContinue) { $PyCmd = @('py', '-3.11') }
else { $PyCmd = @('python') }
$pyArgs = @()
if ($PyCmd.Count -gt 1) { $pyArgs = @($PyCmd[1..($PyCmd.Count - 1)]) }
$VersionCode = "import sys; print('%d.%d.%d' % sys.version_info[:3])"
$PyVersion = (& $PyCmd[0] @pyArgs -c $VersionCode | Out-String).Trim()
if ($LASTEXITCODE -ne 0 -or -not $PyVersion) { throw "build.ps1: cannot run $($PyCmd -join ' ')" }
if (Test-Path $VenvPy) {
    $HaveVersion = (& $VenvPy -c $VersionCode | Out-String).Trim()
    if ($HaveVersion -ne $PyVersion) {
        Step "removing $Venv (Python $HaveVersion; $($PyCmd -join ' ') is $PyVersion)"
        Remove-Item -Recurse -Force $Venv
    }
}
if (-not (Test-Path $VenvPy)) {
    Step "creating $Venv with $($PyCmd -join ' ') (Python $PyVersion)"
    Invoke-Native $PyCmd[0] ($pyArgs + @('-m', 'venv', $Venv))
}
$Pip = @('-m', 'pip', 'install', '-q', '--disable-pip-version-check', '-c', $Constraints)
Step "installing pinned packages from $Constraints"
if ($Flavor -eq 'cuda') {
    $torchArgs = $Pip + @('torch', 'torchvision')
    if ($TorchIndexUrl) { $torchArgs += @('--extra-index-url', $TorchIndexUrl) }
    Invoke-Native $VenvPy $torchArgs
}
Invoke-Native $VenvPy ($Pip + @('pyinstaller==6.*', 'arabic-reshaper', 'python-bidi', $Root))
Invoke-Native $VenvPy @('installer\check_pins.py', $Constraints)
if ($Flavor -eq 'cpu') {
    & $VenvPy -c "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('torch') is None else 1)"
    if ($LASTEXITCODE -ne 0) { throw "build.ps1: torch is installed in $Venv; the cpu build venv must not have it. Remove $Venv." }
}

# 2. PyInstaller. The spec options travel in environment variables: Windows PowerShell may drop
#    the '--' that separates PyInstaller's options from the spec's.
Step 'running PyInstaller'
$env:LABAPP_BUILD_FLAVOR = $Flavor
$env:LABAPP_BUILD_MODEL_DIRS = (($ModelDir | ForEach-Object { (Resolve-Path $_).Path }) -join [IO.Path]::PathSeparator)
$env:LABAPP_BUILD_REQUIRE_GUI = $(if ($RequireGui) { '1' } else { '' })
try {
    Invoke-Native $VenvPy @('-m', 'PyInstaller', '--noconfirm', '--log-level', 'WARN',
        '--distpath', $DistFull, '--workpath', $Work, 'installer\labapp.spec')
}
finally {
    Remove-Item Env:\LABAPP_BUILD_FLAVOR, Env:\LABAPP_BUILD_MODEL_DIRS, Env:\LABAPP_BUILD_REQUIRE_GUI -ErrorAction SilentlyContinue
}
$Bundle = Join-Path $DistFull "labapp-$Flavor"
$SizeMB = [math]::Round(((Get-ChildItem -Recurse -File $Bundle | Measure-Object -Sum Length).Sum) / 1MB)
Step "bundle ${Bundle}: $SizeMB MB"
$Info = Get-Content -Raw -Encoding UTF8 (Join-Path $Bundle '_internal\build_info.json') | ConvertFrom-Json
$Version = $Info.app_version

# 3. The installer.
if ($NoInstaller) { Step "done (no installer) in $([int]((Get-Date) - $Started).TotalSeconds) s"; exit 0 }
if (-not (Test-Path (Join-Path $Bundle 'labapp.exe'))) {
    Write-Warning 'build.ps1: the bundle has no labapp.exe (lab_app\app.py missing); not making an installer whose shortcuts would be broken.'
    exit 1
}
if (-not $Iscc) {
    $found = Get-Command ISCC.exe -ErrorAction SilentlyContinue
    if ($found) { $Iscc = $found.Source }
    else {
        $Iscc = @("${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe", "$env:ProgramFiles\Inno Setup 6\ISCC.exe",
                  "$env:LOCALAPPDATA\Programs\Inno Setup 6\ISCC.exe") |
            Where-Object { $_ -and (Test-Path $_) } | Select-Object -First 1
    }
}
if (-not $Iscc) {
    Write-Warning ('build.ps1: Inno Setup 6 (ISCC.exe) not found; the bundle is ready in ' + $Bundle +
                   '. Install Inno Setup 6 (https://jrsoftware.org/isinfo.php) or pass -Iscc PATH, then run build.ps1 again.')
    exit 1
}
Step "compiling installer\windows\labapp.iss with $Iscc"
Invoke-Native $Iscc @("/DAppVersion=$Version", "/DFlavor=$Flavor", "/DSourceDir=$Bundle",
    "/DOutputDir=$DistFull", '/Q', 'installer\windows\labapp.iss')
$Setup = Join-Path $DistFull "labapp-$Version-windows-x64-$Flavor-setup.exe"
Step "installer $Setup ($([math]::Round((Get-Item $Setup).Length / 1MB)) MB)"
Step "done in $([int]((Get-Date) - $Started).TotalSeconds) s"
