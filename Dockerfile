# Multi-stage build of the Gateway. Build: docker build -t gateway .
# Run:  docker run -p 25:2525 -p 587:2587 -p 465:2465 -p 443:8443 -v gateway-data:/var/lib/gateway gateway
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY gateway.sln ./
COPY Gateway/Gateway.csproj Gateway/
RUN dotnet restore Gateway/Gateway.csproj
COPY Gateway/ Gateway/
RUN dotnet publish Gateway/Gateway.csproj -c Release -o /app --no-restore

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app ./
COPY config/gateway.json /etc/gateway/gateway.json.sample
ENV GATEWAY_DATA_DIR=/var/lib/gateway \
    DOTNET_gcServer=0
RUN mkdir -p /etc/gateway && mkdir -m 0700 -p /var/lib/gateway && chown -R $APP_UID /var/lib/gateway && chmod 0700 /var/lib/gateway
# The image's unprivileged user; the ports are unprivileged, mapped to 25/587/465 by the container runtime.
# /var/lib/gateway: queue, stores, generated keys. /etc/gateway: gateway.json and certs/ (your PEM/PFX), e.g.
#   docker run -v ./gateway.json:/etc/gateway/gateway.json -v ./certs:/etc/gateway/certs gateway run --config /etc/gateway/gateway.json
USER $APP_UID
VOLUME ["/var/lib/gateway", "/etc/gateway"]
EXPOSE 2525 2587 2465 8443
ENTRYPOINT ["dotnet", "/app/gateway.dll"]
CMD ["run"]
