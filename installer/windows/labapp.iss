; Inno Setup 6.3 or newer (6.x or 7): per-machine installer for the one-folder bundle of
; installer/build.ps1.
;
;   ISCC.exe /DAppVersion=0.1.0 /DFlavor=cpu /DSourceDir=..\..\dist\labapp-cpu /DOutputDir=..\..\dist
;            /DVCMajor=14 /DVCMinor=44 labapp.iss
;
; (build.ps1 runs this, with the VC runtime version the bundle needs from its build_info.json.)
; Produces labapp-<version>-windows-x64-<flavor>-setup.exe: installs into Program Files, adds
; Start menu and desktop shortcuts and an uninstaller.
;
; Data: the case database, labapp.log, settings.json and the window layout (gui.ini) live in each
; user's %LOCALAPPDATA%\ALL-Workstation, outside the installation: uninstalling or updating keeps
; them. The optional task "shareddata" makes one machine-wide data folder instead
; (%ProgramData%\ALL-Workstation, modify rights for the Users group, LABAPP_DATA_DIR set for all
; users): for a PC several technicians share. Local disk only: SQLite's WAL journal does not work
; on network shares (a lab network uses the PostgreSQL store, docs/install.md).
;
; Visual C++ runtime: the bundle carries msvcp140*.dll (build.ps1 checks their version); the
; system runtime must also be at least VCMajor.VCMinor. Put Microsoft's vc_redist.x64.exe into
; installer\windows\redist\ to have setup install it where it is older or missing; without it,
; setup refuses such a PC with a message naming the runtime to install.
;
; Signing (optional): build.ps1 -SignCert/-SignThumbprint defines SignTool and passes the sign tool
; command (ISCC /Slabappsign=...), so setup and uninstaller are signed by Inno Setup itself.

#if VER < EncodeVer(6, 3, 0)
  #error Inno Setup 6.3 or newer is needed (x64compatible, modern [Code] functions)
#endif

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#ifndef Flavor
  #define Flavor "cpu"
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\labapp-" + Flavor
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif
; The oldest Visual C++ 2015-2022 runtime (major.minor) the bundle works with: at least 14.40, the
; first with the constexpr std::mutex that onnxruntime's binaries use. build.ps1 passes the
; version the bundle's onnxruntime was linked with.
#ifndef VCMajor
  #define VCMajor "14"
#endif
#ifndef VCMinor
  #define VCMinor "40"
#endif
#define AppName "ALL Subtype Workstation"
#define DataFolder "ALL-Workstation"
#define DataVar "LABAPP_DATA_DIR"
#define EnvKey "SYSTEM\CurrentControlSet\Control\Session Manager\Environment"
#ifexist "redist\vc_redist.x64.exe"
  #define HaveVCRedist
#endif

[Setup]
; A fixed AppId: a newer installer replaces the installed version instead of adding a second one.
AppId={{3B6E2A51-9C4D-4F1E-A7B2-5D8C0E6F4A13}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion} ({#Flavor})
AppPublisher=ALL Subtype Workstation project
AppComments=Classifies ALL subtypes in blood smear images. For research use only.
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; Per machine: Program Files, shortcuts for all users; needs an administrator.
PrivilegesRequired=admin
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; Windows 10 1809 (build 17763) or later, as Qt 6 requires: on older builds (LTSB 2015/2016)
; QtCore fails to load, so setup refuses them instead of installing a program that cannot start.
MinVersion=10.0.17763
OutputDir={#OutputDir}
OutputBaseFilename=labapp-{#AppVersion}-windows-x64-{#Flavor}-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
SetupIconFile=..\..\resources\icons\labapp.ico
UninstallDisplayIcon={app}\labapp.exe
UninstallDisplayName={#AppName} {#AppVersion} ({#Flavor})
; Close a running labapp (Restart Manager) before files are replaced.
CloseApplications=yes
RestartApplications=no
SetupLogging=yes
; The shareddata task writes a system environment variable: tell Explorer to reload it.
ChangesEnvironment=yes
#ifdef SignTool
SignTool={#SignTool}
SignedUninstaller=yes
#endif
#ifexist "..\..\LICENSE"
LicenseFile=..\..\LICENSE
#endif

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"
Name: "shareddata"; Description: "One case database for all users of this PC, in %ProgramData%\{#DataFolder} (local disk only)"; GroupDescription: "Data:"; Flags: unchecked

[Dirs]
; Machine-wide data folder: the Users group may modify it and what is created in it (the ACE is
; inherited), so a database one technician created is writable for the next. Never removed.
Name: "{commonappdata}\{#DataFolder}"; Permissions: users-modify; Flags: uninsneveruninstall; Tasks: shareddata

[Registry]
; LABAPP_DATA_DIR for all users; removed by the uninstaller (the folder and its data stay).
Root: HKLM; Subkey: "{#EnvKey}"; ValueType: string; ValueName: "{#DataVar}"; ValueData: "{commonappdata}\{#DataFolder}"; Flags: uninsdeletevalue; Tasks: shareddata
; An update without the task drops the variable again, but only when it is the one set above.
Root: HKLM; Subkey: "{#EnvKey}"; ValueType: none; ValueName: "{#DataVar}"; Flags: deletevalue; Tasks: not shareddata; Check: SharedDataVariableIsOurs

[InstallDelete]
; An update replaces the program files completely, so no module of an older version lingers.
; {app} holds program files only; no user data is ever written there.
Type: filesandordirs; Name: "{app}\_internal"
Type: filesandordirs; Name: "{app}\licenses"

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
#ifdef HaveVCRedist
; Run from PrepareToInstall (before any file is copied), only where the runtime is too old.
Source: "redist\vc_redist.x64.exe"; Flags: dontcopy
#endif

[Icons]
Name: "{autoprograms}\{#AppName}\{#AppName}"; Filename: "{app}\labapp.exe"; IconFilename: "{app}\labapp.exe"; Comment: "Review ALL subtype calls in blood smear images (research use only)"
Name: "{autoprograms}\{#AppName}\Third-party licences"; Filename: "{app}\licenses\THIRD-PARTY-NOTICES.txt"
Name: "{autoprograms}\{#AppName}\Uninstall {#AppName}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\labapp.exe"; IconFilename: "{app}\labapp.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\labapp.exe"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent runasoriginaluser

[UninstallDelete]
; Only the program folder itself, if it is left empty. The user data folders
; (%LOCALAPPDATA%\ALL-Workstation, and %ProgramData%\ALL-Workstation of the shareddata task:
; case database, reports, settings) are deliberately not listed.
Type: dirifempty; Name: "{app}"

[Code]
const
  VCRuntimeKey = 'SOFTWARE\Microsoft\VisualStudio\14.0\VC\Runtimes\x64';

{ The installed Visual C++ 2015-2022 x64 runtime (Microsoft's documented detection key). The
  redistributable's 32-bit bootstrapper may write it to the 32-bit view: both are read. }
function VCRuntimeVersionIn(RootKey: Integer; var Major, Minor: Cardinal): Boolean;
var
  Installed: Cardinal;
begin
  Result := RegQueryDWordValue(RootKey, VCRuntimeKey, 'Installed', Installed) and (Installed = 1) and
            RegQueryDWordValue(RootKey, VCRuntimeKey, 'Major', Major) and
            RegQueryDWordValue(RootKey, VCRuntimeKey, 'Minor', Minor);
end;

function VCRuntimeRecentEnough(): Boolean;
var
  Major, Minor: Cardinal;
begin
  Result := (VCRuntimeVersionIn(HKLM64, Major, Minor) and
             ((Major > {#VCMajor}) or ((Major = {#VCMajor}) and (Minor >= {#VCMinor})))) or
            (VCRuntimeVersionIn(HKLM32, Major, Minor) and
             ((Major > {#VCMajor}) or ((Major = {#VCMajor}) and (Minor >= {#VCMinor}))));
end;

function SharedDataVariableIsOurs(): Boolean;
var
  Value: String;
begin
  Result := RegQueryStringValue(HKLM, '{#EnvKey}', '{#DataVar}', Value) and
            (CompareText(Value, ExpandConstant('{commonappdata}\{#DataFolder}')) = 0);
end;

function InitializeSetup(): Boolean;
begin
  Result := True;
#ifndef HaveVCRedist
  if not VCRuntimeRecentEnough() then begin
    SuppressibleMsgBox('{#AppName} needs the Microsoft Visual C++ 2015-2022 Redistributable (x64), ' +
      'version {#VCMajor}.{#VCMinor} or newer, and this PC has an older one or none.' + #13#10#13#10 +
      'Install the latest vc_redist.x64.exe from Microsoft, then run this setup again.',
      mbCriticalError, MB_OK, IDOK);
    Log('Visual C++ runtime older than {#VCMajor}.{#VCMinor} or missing: setup stopped.');
    Result := False;
  end;
#endif
end;

#ifdef HaveVCRedist
function PrepareToInstall(var NeedsRestart: Boolean): String;
var
  ResultCode: Integer;
begin
  Result := '';
  if VCRuntimeRecentEnough() then
    exit;
  ExtractTemporaryFile('vc_redist.x64.exe');
  if not Exec(ExpandConstant('{tmp}\vc_redist.x64.exe'), '/install /quiet /norestart', '',
              SW_HIDE, ewWaitUntilTerminated, ResultCode) then
    Result := 'The Microsoft Visual C++ runtime could not be started: ' + SysErrorMessage(ResultCode)
  { 0 installed, 1638 a newer one is present, 3010 installed, restart pending (the bundle
    carries its own copies meanwhile). }
  else if (ResultCode <> 0) and (ResultCode <> 1638) and (ResultCode <> 3010) then
    Result := 'The Microsoft Visual C++ runtime could not be installed (exit code ' +
              IntToStr(ResultCode) + ').'
  else
    Log('vc_redist.x64.exe exit code ' + IntToStr(ResultCode));
end;
#endif

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
begin
  if (CurUninstallStep = usPostUninstall) and not UninstallSilent() then
    MsgBox('{#AppName} has been removed.' + #13#10#13#10 +
           'The case database, reports and settings were kept: they are in each user''s folder ' +
           '%LOCALAPPDATA%\{#DataFolder} (and, where the shared data folder was chosen, in ' +
           ExpandConstant('{commonappdata}\{#DataFolder}') + '). Reinstalling the program finds ' +
           'them again. Delete those folders by hand only when the laboratory no longer needs the cases.',
           mbInformation, MB_OK);
end;
