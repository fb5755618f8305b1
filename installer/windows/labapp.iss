; Inno Setup 6 script: per-machine installer for the one-folder bundle of installer/build.ps1.
;
;   ISCC.exe /DAppVersion=0.1.0 /DFlavor=cpu /DSourceDir=..\..\dist\labapp-cpu /DOutputDir=..\..\dist labapp.iss
;
; (build.ps1 runs this when Inno Setup 6 is installed.) Produces
; labapp-<version>-windows-x64-<flavor>-setup.exe: installs into Program Files, adds Start menu
; and desktop shortcuts and an uninstaller. The case database, reports and settings live in each
; user's %LOCALAPPDATA%\ALL-Workstation, outside the installation: uninstalling or updating keeps
; them. Put vc_redist.x64.exe into installer\windows\redist\ to have the installer add the
; Microsoft Visual C++ runtime where it is missing.

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
#define AppName "ALL Subtype Workstation"
#define DataFolder "ALL-Workstation"

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
MinVersion=10.0
OutputDir={#OutputDir}
OutputBaseFilename=labapp-{#AppVersion}-windows-x64-{#Flavor}-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
UninstallDisplayIcon={app}\labapp.exe
UninstallDisplayName={#AppName} {#AppVersion} ({#Flavor})
; Close a running labapp (Restart Manager) before files are replaced.
CloseApplications=yes
RestartApplications=no
SetupLogging=yes
#ifexist "..\..\LICENSE"
LicenseFile=..\..\LICENSE
#endif

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"

[InstallDelete]
; An update replaces the program files completely, so no module of an older version lingers.
; {app} holds program files only; no user data is ever written there.
Type: filesandordirs; Name: "{app}\_internal"
Type: filesandordirs; Name: "{app}\licenses"

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
#ifexist "redist\vc_redist.x64.exe"
Source: "redist\vc_redist.x64.exe"; DestDir: "{tmp}"; Flags: deleteafterinstall
#endif

[Icons]
Name: "{autoprograms}\{#AppName}\{#AppName}"; Filename: "{app}\labapp.exe"; Comment: "Review ALL subtype calls in blood smear images (research use only)"
Name: "{autoprograms}\{#AppName}\Third-party licences"; Filename: "{app}\licenses\THIRD-PARTY-NOTICES.txt"
Name: "{autoprograms}\{#AppName}\Uninstall {#AppName}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\labapp.exe"; Tasks: desktopicon

[Run]
#ifexist "redist\vc_redist.x64.exe"
Filename: "{tmp}\vc_redist.x64.exe"; Parameters: "/install /quiet /norestart"; StatusMsg: "Installing the Microsoft Visual C++ runtime..."; Check: VCRedistNeeded; Flags: waituntilterminated
#endif
Filename: "{app}\labapp.exe"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent runasoriginaluser

[UninstallDelete]
; Only the program folder itself, if it is left empty. The user data folders
; (%LOCALAPPDATA%\ALL-Workstation: case database, reports, settings) are deliberately not listed.
Type: dirifempty; Name: "{app}"

[Code]
function VCRedistNeeded(): Boolean;
var
  Installed: Cardinal;
begin
  Result := not (RegQueryDWordValue(HKLM64, 'SOFTWARE\Microsoft\VisualStudio\14.0\VC\Runtimes\x64',
                                    'Installed', Installed) and (Installed = 1));
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
begin
  if (CurUninstallStep = usPostUninstall) and not UninstallSilent() then
    MsgBox('{#AppName} has been removed.' + #13#10#13#10 +
           'The case database, reports and settings were kept: they are in each user''s folder ' +
           '%LOCALAPPDATA%\{#DataFolder}. Reinstalling the program finds them again. Delete that ' +
           'folder by hand only when the laboratory no longer needs the cases.',
           mbInformation, MB_OK);
end;
