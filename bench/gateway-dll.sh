# gateway-dll.sh - sourced by the benchmarks: sets GATEWAY_DLL to the gateway build to measure.
# GATEWAY_DLL from the environment wins; else the repository's Release build; else a Release build made into
# /tmp/gwbench-build (not into the repository's bin/, which may be in use). Needs REPO, log and die.
if [[ -n ${GATEWAY_DLL:-} ]]; then
    [[ -f $GATEWAY_DLL ]] || die "GATEWAY_DLL=$GATEWAY_DLL does not exist"
else
    GATEWAY_DLL=$REPO/Gateway/bin/Release/net10.0/gateway.dll
    if [[ ! -f $GATEWAY_DLL ]]; then
        GATEWAY_DLL=/tmp/gwbench-build/gateway.dll
        log "building the gateway into /tmp/gwbench-build"
        timeout 600 dotnet build "$REPO/Gateway/Gateway.csproj" -c Release -o /tmp/gwbench-build -nologo -v quiet >&2 \
            || die "build failed"
    fi
fi
