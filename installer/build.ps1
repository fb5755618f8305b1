<#
.SYNOPSIS
    Build the Windows one-folder bundle (labapp.exe + labapp-batch.exe) and its Inno Setup installer.

.DESCRIPTION
    The Windows twin of installer/build.sh, with the same options:

        powershell -ExecutionPolicy Bypass -File installer\build.ps1 --flavor cpu --dist dist
        powershell -ExecutionPolicy Bypass -File installer\build.ps1 -Flavor cpu -Dist dist

    1. creates build\venv-<flavor> (never the development .venv) and installs exactly the versions
       of installer\constraints-<flavor>.txt; installer\check_pins.py refuses anything unpinned
       (and, for cuda, a torch without CUDA);
    2. runs PyInstaller on installer\labapp.spec -> DIST\labapp-<flavor>\, then checks the Visual
       C++ runtime DLLs it bundled (msvcp140*.dll at least as new as onnxruntime needs);
    3. optionally signs labapp.exe and labapp-batch.exe (-SignCert or -SignThumbprint);
    4. compiles installer\windows\labapp.iss with Inno Setup 6.3+ or 7 (ISCC.exe) ->
       DIST\labapp-<version>-windows-x64-<flavor>-setup.exe (signed too when 3. is on).

    Needs 64-bit Python 3.11 (python.org installer or the py launcher) and, for step 4, Inno Setup
    6.3 or newer. The cuda flavor needs a CUDA build of torch: pass the PyTorch wheel index with
    -TorchIndexUrl (PyPI's Windows torch wheels are CPU-only); without it the build stops.
    Runs the same under Windows PowerShell 5.1 and PowerShell 7 (installer\windows\common.ps1).

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
.PARAMETER TorchIndexUrl
    The PyTorch CUDA wheel index (cuda flavor only, required there). --torch-index-url too.
.PARAMETER Iscc
    ISCC.exe to use (default: the newest Inno Setup 6.3+/7 found). --iscc too.
.PARAMETER SignCert
    A code-signing certificate (.pfx) the lab or distributor provides; its password in the
    environment variable LABAPP_SIGN_PASSWORD. Signs both programs, setup and uninstaller with
    signtool.exe (Windows SDK). --sign-cert too.
.PARAMETER SignThumbprint
    Sign with a certificate from the Windows certificate store (SHA-1 thumbprint) instead, e.g. one
    on a hardware token. --sign-thumbprint too.
.PARAMETER TimestampUrl
    RFC 3161 time-stamp server of the certificate's issuer (signatures then outlive the
    certificate). --timestamp-url too.
#>
[CmdletBinding(PositionalBinding = $false)]
param(
    [ValidateSet('cpu', 'cuda')] [string] $Flavor = 'cpu',
    [string] $Dist = 'dist',
    [string[]] $ModelDir = @(),
    [string] $Python = '',
    [string] $TorchIndexUrl = '',
    [string] $Iscc = '',
    [string] $SignCert = '',
    [string] $SignThumbprint = '',
    [string] $TimestampUrl = '',
    [switch] $NoInstaller,
    [switch] $RequireGui,
    [Parameter(ValueFromRemainingArguments = $true)] [string[]] $Rest = @()
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
. (Join-Path $PSScriptRoot 'windows\common.ps1')

# GNU-style options, as build.sh takes them (--flavor cpu, --dist=DIR, ...).
$Rest = Join-ColonSplitArguments $Rest
for ($i = 0; $i -lt $Rest.Count; $i++) {
    $arg = $Rest[$i]
    # A PowerShell parameter (-Dist) never lands here; a single-dash '-dist=...' is a GNU option
    # whose first '-' the -File binder took.
    if ($arg -match '^-[a-z][a-z-]*=') { $arg = '-' + $arg }
    $value = $null
    if ($arg -match '^(--[a-z-]+)=(.*)$') { $arg = $Matches[1]; $value = $Matches[2] }
    $needsValue = @('--flavor', '--dist', '--model-dir', '--python', '--torch-index-url', '--iscc',
                    '--sign-cert', '--sign-thumbprint', '--timestamp-url') -contains $arg
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
        '--sign-cert' { $SignCert = $value }
        '--sign-thumbprint' { $SignThumbprint = $value }
        '--timestamp-url' { $TimestampUrl = $value }
        '--no-installer' { $NoInstaller = $true }
        '--no-tarball' { }  # accepted for symmetry with build.sh; there is no tarball on Windows
        '--require-gui' { $RequireGui = $true }
        default { throw "build.ps1: unknown option $arg" }
    }
}

if ($Flavor -eq 'cuda' -and -not $TorchIndexUrl) {
    throw ('build.ps1: the cuda flavor needs -TorchIndexUrl <PyTorch CUDA wheel index>: PyPI has only ' +
           'CPU-only torch for Windows, and a cuda bundle with it would never use the GPU.')
}
if ($SignCert -and $SignThumbprint) { throw 'build.ps1: give -SignCert or -SignThumbprint, not both' }

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
$PyVersion = Invoke-NativeOutput $PyCmd[0] ($pyArgs + @('-c', $VersionCode))
if (-not $PyVersion) { throw "build.ps1: cannot run $($PyCmd -join ' ')" }
if (Test-Path $VenvPy) {
    $HaveVersion = ''
    try { $HaveVersion = Invoke-NativeOutput $VenvPy @('-c', $VersionCode) } catch { $HaveVersion = 'none' }
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
    Invoke-Native $VenvPy ($Pip + @('torch', 'torchvision', '--extra-index-url', $TorchIndexUrl))
}
# The [lab] extra: psycopg 3 with its bundled libpq (a lab network's PostgreSQL case store).
Invoke-Native $VenvPy ($Pip + @('pyinstaller==6.*', 'arabic-reshaper', 'python-bidi', "$Root[lab]"))
Invoke-Native $VenvPy @('installer\check_pins.py', $Constraints, '--flavor', $Flavor) -What 'check_pins'
if ($Flavor -eq 'cpu') {
    if (-not (Test-NativeSucceeds $VenvPy @('-c', "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('torch') is None else 1)"))) {
        throw "build.ps1: torch is installed in $Venv; the cpu build venv must not have it. Remove $Venv."
    }
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
$Info = Read-BuildInfo $Bundle
$Version = $Info.app_version
if ($Flavor -eq 'cuda' -and -not $Info.torch_cuda) { throw "build.ps1: $Bundle carries a torch without CUDA" }

# The Visual C++ runtime: what PyInstaller took from this machine, read by Windows itself.
Step 'checking the bundled Visual C++ runtime'
$VCRequired = Assert-VCRuntime $Bundle
$Redist = Join-Path $Root 'installer\windows\redist\vc_redist.x64.exe'
if (Test-Path $Redist) {
    $RedistVersion = Get-FileVersion $Redist
    if ($null -eq $RedistVersion -or $RedistVersion -lt $VCRequired) {
        throw "build.ps1: $Redist is $RedistVersion; the bundle needs $VCRequired or newer. Put the current vc_redist.x64.exe there."
    }
    Step "setup will install the Visual C++ runtime $RedistVersion where a PC has one older than $VCRequired"
}
else {
    Write-Warning ("build.ps1: no installer\windows\redist\vc_redist.x64.exe: setup will refuse PCs whose Visual " +
                   "C++ runtime is older than $VCRequired (or missing) instead of installing it.")
}

# 3. Optional code signing with a certificate the lab or distributor provides.
$SignArgs = @()
if ($SignCert -or $SignThumbprint) {
    $SignToolExe = Find-SignTool
    if (-not $SignToolExe) { throw 'build.ps1: signtool.exe not found (install the Windows SDK signing tools)' }
    # $q is Inno Setup's quote in sign tool commands; build.ps1 uses the same list for both programs.
    if ($SignCert) {
        if (-not (Test-Path $SignCert)) { throw "build.ps1: $SignCert does not exist" }
        $SignArgs = @('/f', (Resolve-Path $SignCert).Path)
        if ($env:LABAPP_SIGN_PASSWORD) { $SignArgs += @('/p', $env:LABAPP_SIGN_PASSWORD) }
    }
    else { $SignArgs = @('/sha1', $SignThumbprint) }
    $SignArgs = @('sign', '/fd', 'sha256', '/d', 'ALL Subtype Workstation') + $SignArgs
    if ($TimestampUrl) { $SignArgs += @('/tr', $TimestampUrl, '/td', 'sha256') }
    else { Write-Warning 'build.ps1: no -TimestampUrl: the signatures become invalid when the certificate expires.' }
    foreach ($exe in 'labapp.exe', 'labapp-batch.exe') {
        $target = Join-Path $Bundle $exe
        if (Test-Path $target) {
            Step "signing $exe"
            Invoke-Native $SignToolExe ($SignArgs + @($target)) -What "signtool ($exe)"
        }
    }
}

# 4. The installer.
if ($NoInstaller) { Step "done (no installer) in $([int]((Get-Date) - $Started).TotalSeconds) s"; exit 0 }
if (-not (Test-Path (Join-Path $Bundle 'labapp.exe'))) {
    Write-Warning 'build.ps1: the bundle has no labapp.exe (lab_app\app.py missing); not making an installer whose shortcuts would be broken.'
    exit 1
}
if (-not $Iscc) {
    $found = Find-Iscc
    if ($found) { $Iscc = $found.Path; Step "Inno Setup $($found.Version): $Iscc" }
}
if (-not $Iscc) {
    Write-Warning ('build.ps1: Inno Setup 6.3 or newer (ISCC.exe) not found; the bundle is ready in ' + $Bundle +
                   '. Install Inno Setup (https://jrsoftware.org/isinfo.php) or pass -Iscc PATH, then run build.ps1 again.')
    exit 1
}
$IsccArgs = @("/DAppVersion=$Version", "/DFlavor=$Flavor", "/DSourceDir=$Bundle", "/DOutputDir=$DistFull",
              "/DVCMajor=$($VCRequired.Major)", "/DVCMinor=$($VCRequired.Minor)")
if ($SignArgs) {
    # ISCC signs setup and uninstaller itself (SignTool directive): '$f' is the file, '$q' a quote.
    $quoted = $SignArgs | ForEach-Object { if ($_ -match '\s') { '$q' + $_ + '$q' } else { $_ } }
    $IsccArgs += @('/DSignTool=labappsign', ('/Slabappsign=$q' + $SignToolExe + '$q ' + ($quoted -join ' ') + ' $f'))
}
Step "compiling installer\windows\labapp.iss with $Iscc"
Invoke-Native $Iscc ($IsccArgs + @('/Q', 'installer\windows\labapp.iss')) -What 'ISCC'
$Setup = Join-Path $DistFull "labapp-$Version-windows-x64-$Flavor-setup.exe"
Step "installer $Setup ($([math]::Round((Get-Item $Setup).Length / 1MB)) MB)"
Step "done in $([int]((Get-Date) - $Started).TotalSeconds) s"
