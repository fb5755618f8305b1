# Helpers shared by installer\build.ps1 and installer\windows\ci-windows.ps1 (dot-sourced).
# They work the same under Windows PowerShell 5.1 and PowerShell 7.
#
# Native programs (pip, PyInstaller, ISCC, signtool) write progress and warnings to stderr. Under
# Windows PowerShell 5.1 a redirected or console-less host (CI, a scheduled task) turns each stderr
# line into an ErrorRecord, and with $ErrorActionPreference = 'Stop' the first one aborts the
# script (NativeCommandError), whatever the exit code; PowerShell 7.3+ can instead throw on a
# non-zero exit ($PSNativeCommandUseErrorActionPreference). So native programs run only through
# Invoke-Native / Invoke-NativeOutput: preference relaxed inside, stderr passed through as text,
# success decided by the exit code alone.

function Invoke-Native {
    # Run a program, show its stdout and stderr, throw when the exit code is not 0.
    param([Parameter(Mandatory = $true)] [string] $Exe, [string[]] $Arguments = @(), [string] $What = '')
    $ErrorActionPreference = 'Continue'
    $PSNativeCommandUseErrorActionPreference = $false
    & $Exe @Arguments 2>&1 | ForEach-Object {
        if ($_ -is [System.Management.Automation.ErrorRecord]) { [Console]::Error.WriteLine($_.ToString()) }
        else { Write-Host $_ }
    }
    $code = $LASTEXITCODE
    if ($code -ne 0) {
        if (-not $What) { $What = "'$Exe $($Arguments -join ' ')'" }
        throw "$What failed with exit code $code"
    }
}

function Invoke-NativeOutput {
    # Run a program and return its stdout (trimmed text); stderr is shown; throw on a failing exit code.
    param([Parameter(Mandatory = $true)] [string] $Exe, [string[]] $Arguments = @())
    $ErrorActionPreference = 'Continue'
    $PSNativeCommandUseErrorActionPreference = $false
    $lines = & $Exe @Arguments 2>&1 | ForEach-Object {
        if ($_ -is [System.Management.Automation.ErrorRecord]) { [Console]::Error.WriteLine($_.ToString()) }
        else { $_ }
    }
    if ($LASTEXITCODE -ne 0) { throw "'$Exe $($Arguments -join ' ')' failed with exit code $LASTEXITCODE" }
    return (($lines | ForEach-Object { "$_" }) -join "`n").Trim()
}

function Test-NativeSucceeds {
    # True when the program exits 0 (its output is discarded).
    param([Parameter(Mandatory = $true)] [string] $Exe, [string[]] $Arguments = @())
    $ErrorActionPreference = 'Continue'
    $PSNativeCommandUseErrorActionPreference = $false
    & $Exe @Arguments 2>&1 | Out-Null
    return ($LASTEXITCODE -eq 0)
}

function Join-ColonSplitArguments {
    # powershell -File splits an argument that starts with '-' and contains ':' into two
    # (PowerShell issue 16432): --dist=C:\x arrives as '--dist=C:' and '\x'. Put them together.
    param([string[]] $Arguments = @())
    $out = New-Object System.Collections.Generic.List[string]
    for ($i = 0; $i -lt $Arguments.Count; $i++) {
        $a = $Arguments[$i]
        if ($a -match '^-{1,2}[A-Za-z][A-Za-z-]*=.*:$' -and $i + 1 -lt $Arguments.Count -and $Arguments[$i + 1] -notmatch '^--') {
            $a = $a + $Arguments[$i + 1]
            $i++
        }
        $out.Add($a)
    }
    return , $out.ToArray()
}

function Get-FileVersion {
    # FileVersion of a PE file as [version] (major.minor.build.revision), or $null.
    param([Parameter(Mandatory = $true)] [string] $Path)
    $vi = (Get-Item -LiteralPath $Path).VersionInfo
    if ($null -eq $vi -or $null -eq $vi.FileMajorPart) { return $null }
    return New-Object System.Version($vi.FileMajorPart, $vi.FileMinorPart, $vi.FileBuildPart, $vi.FilePrivatePart)
}

function Find-Iscc {
    # The newest ISCC.exe of Inno Setup 6.3 or later (6.x or 7.x): PATH, the uninstall registry
    # entries (per machine and per user), then the default folders. Returns @{Path; Version} or $null;
    # throws when only an older Inno Setup is installed.
    $candidates = New-Object System.Collections.Generic.List[string]
    $onPath = Get-Command ISCC.exe -ErrorAction SilentlyContinue
    if ($onPath) { $candidates.Add($onPath.Source) }
    foreach ($major in 7, 6) {
        foreach ($hive in 'HKLM:\SOFTWARE\WOW6432Node', 'HKLM:\SOFTWARE', 'HKCU:\SOFTWARE') {
            $key = "$hive\Microsoft\Windows\CurrentVersion\Uninstall\Inno Setup ${major}_is1"
            $props = Get-ItemProperty -Path $key -ErrorAction SilentlyContinue
            if ($props -and $props.PSObject.Properties['InstallLocation'] -and $props.InstallLocation) {
                $candidates.Add((Join-Path $props.InstallLocation 'ISCC.exe'))
            }
        }
        foreach ($base in ${env:ProgramFiles(x86)}, $env:ProgramFiles, (Join-Path "$env:LOCALAPPDATA" 'Programs')) {
            if ($base) { $candidates.Add((Join-Path $base "Inno Setup $major\ISCC.exe")) }
        }
    }
    $found = @()
    foreach ($c in ($candidates | Select-Object -Unique)) {
        if ($c -and (Test-Path -LiteralPath $c)) {
            $found += [pscustomobject]@{ Path = $c; Version = (Get-FileVersion $c) }
        }
    }
    if (-not $found) { return $null }
    # An ISCC.exe without a version resource is accepted: labapp.iss itself stops a compiler
    # older than 6.3 (#if VER < EncodeVer(6, 3, 0)).
    $good = @($found | Where-Object { $_.Version -and $_.Version -ge [version]'6.3' } | Sort-Object Version -Descending)
    $unknown = @($found | Where-Object { -not $_.Version -or $_.Version -eq [version]'0.0.0.0' })
    if ($good.Count -gt 0) { return $good[0] }
    if ($unknown.Count -gt 0) { return $unknown[0] }
    $have = ($found | ForEach-Object { "$($_.Path) ($($_.Version))" }) -join ', '
    throw "Inno Setup 6.3 or newer is needed; found only $have. Install the current Inno Setup (https://jrsoftware.org/isinfo.php)."
}

function Find-SignTool {
    # signtool.exe of the newest Windows SDK (x64), or from PATH; $null when absent.
    $onPath = Get-Command signtool.exe -ErrorAction SilentlyContinue
    if ($onPath) { return $onPath.Source }
    $kits = Join-Path "${env:ProgramFiles(x86)}" 'Windows Kits\10\bin'
    if (-not (Test-Path $kits)) { return $null }
    $tool = Get-ChildItem -Path $kits -Directory -ErrorAction SilentlyContinue |
        Where-Object { $_.Name -match '^\d+(\.\d+)+$' } | Sort-Object { [version]$_.Name } -Descending |
        ForEach-Object { Join-Path $_.FullName 'x64\signtool.exe' } | Where-Object { Test-Path $_ } |
        Select-Object -First 1
    return $tool
}

function Read-BuildInfo {
    param([Parameter(Mandatory = $true)] [string] $Bundle)
    return Get-Content -Raw -Encoding UTF8 (Join-Path $Bundle '_internal\build_info.json') | ConvertFrom-Json
}

function Assert-VCRuntime {
    # Windows' own reading of the FileVersion of every msvcp140*.dll in the bundle, against the
    # version build_info.json says onnxruntime needs (labapp.spec recorded it). Returns that version.
    param([Parameter(Mandatory = $true)] [string] $Bundle)
    $info = Read-BuildInfo $Bundle
    if (-not $info.PSObject.Properties['vc_runtime']) { throw "build_info.json of $Bundle has no vc_runtime (not built on Windows by labapp.spec?)" }
    $required = [version]$info.vc_runtime.required
    $msvcp = @(Get-ChildItem -Path $Bundle -Recurse -File -Filter 'msvcp140*.dll')
    foreach ($name in 'msvcp140.dll', 'msvcp140_1.dll') {
        if (-not ($msvcp | Where-Object { $_.Name -ieq $name })) { throw "$name is not in $Bundle; onnxruntime needs it" }
    }
    foreach ($dll in $msvcp) {
        $v = Get-FileVersion $dll.FullName
        if ($null -eq $v -or $v -lt $required) {
            throw "$($dll.FullName) is $v, older than $required ($($info.vc_runtime.required_by)). Install the latest Visual C++ 2015-2022 Redistributable (x64) on this build machine and build again."
        }
        Write-Host "  $($dll.FullName.Substring($Bundle.Length + 1)) $v"
    }
    return $required
}

function Wait-Until {
    # Poll a condition (a scriptblock) until it is true; throw after TimeoutSeconds.
    param([Parameter(Mandatory = $true)] [scriptblock] $Condition, [int] $TimeoutSeconds = 180, [string] $What = 'condition')
    $deadline = (Get-Date).AddSeconds($TimeoutSeconds)
    while (-not (& $Condition)) {
        if ((Get-Date) -gt $deadline) { throw "timed out after $TimeoutSeconds s waiting for $What" }
        Start-Sleep -Milliseconds 500
    }
}
