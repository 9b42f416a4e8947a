# Holdfast: one image for the API and its CLI commands (`migrate`, `seed`).
#   docker build -t holdfast:local .
#   docker run --rm holdfast:local migrate --dry-run     (args after the image name go to Holdfast.dll)
# compose.yaml builds this same image and runs it as the migrate, seed and app services.

# ---------------------------------------------------------------------------------------------
# build: restore, compile and publish with the full SDK. Nothing from this stage ships except /app.
# ---------------------------------------------------------------------------------------------
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /source

# Restore inputs only, so the (slow, network-bound) restore layer is reused until one of these changes.
# global.json pins SDK 10.0.100 with rollForward latestFeature: any 10.0.1xx-or-later SDK satisfies it,
# which the sdk:10.0 image does. Directory.Build.props sets TargetFramework for the project, and
# Directory.Packages.props holds every package version (central package management): without them
# the csproj alone cannot restore. They sit one level above src/, exactly as in the repo.
COPY global.json Directory.Build.props Directory.Packages.props ./
COPY src/Holdfast.csproj src/
COPY clients/Holdfast.Client/Holdfast.Client.csproj clients/Holdfast.Client/
RUN dotnet restore src/Holdfast.csproj

# The rest of the build inputs.
# .editorconfig: the build runs the analyzers with EnforceCodeStyleInBuild and TreatWarningsAsErrors,
# and .editorconfig sets rule severities, so leaving it out would change which diagnostics fail the build.
# (Copied after the restore because restore does not read it: editing it must not invalidate that layer.)
# db/: the csproj links ../db/migrations/*.sql and ../db/seed/*.csv into the output as db/migrations/ and
# db/seed/, which `migrate` and `seed` read from the app's base directory at run time.
# .dockerignore keeps the host's bin/ and obj/ out of the context, so this COPY cannot overwrite the
# obj/project.assets.json the restore above just wrote.
COPY .editorconfig ./
COPY src/ src/
# The generated client the demo-client command runs through (a project reference of src).
COPY clients/ clients/
COPY db/ db/

# --no-restore: use the restore layer above, and fail rather than silently re-restore if it is stale.
# UseAppHost=false: no native `Holdfast` launcher; the image starts the app with `dotnet Holdfast.dll`,
# so the output is portable (no RID) and framework-dependent on the aspnet runtime image below.
RUN dotnet publish src/Holdfast.csproj -c Release -o /app --no-restore /p:UseAppHost=false

# ---------------------------------------------------------------------------------------------
# final: ASP.NET Core runtime only (no SDK, no sources).
# ---------------------------------------------------------------------------------------------
FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS final
WORKDIR /app

# Published output: Holdfast.dll, appsettings*.json, db/migrations/*.sql, db/seed/*.csv.
# Copied as root and left root-owned, so the non-root user below can read but not modify the app.
COPY --from=build /app .

# Run as the image's built-in non-root user `app` (UID 1654, provided as $APP_UID by the base image).
# The numeric UID, not the name, lets Kubernetes' runAsNonRoot verify it without resolving /etc/passwd.
USER $APP_UID

# Kestrel's port. The aspnet image already sets ASPNETCORE_HTTP_PORTS=8080; it is restated so the port
# is visible here next to EXPOSE (a non-root user cannot bind below 1024, hence 8080 rather than 80).
EXPOSE 8080
ENV ASPNETCORE_HTTP_PORTS=8080

# Exec form: dotnet is PID 1 and gets SIGTERM directly for a graceful shutdown.
# No arguments serves the API; a compose `command:` or `docker run` args append a CLI command,
# e.g. ["migrate"], ["migrate", "--dry-run"], ["seed", "--days", "30"].
# No HEALTHCHECK: the image has no curl/wget and the app has no health endpoint yet.
ENTRYPOINT ["dotnet", "Holdfast.dll"]
