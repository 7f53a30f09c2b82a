#!/usr/bin/with-contenv bashio
# shellcheck shell=bash
# Starts pagecast with the add-on's options (/data/options.json, read through bashio), the state in
# /data/pagecast, and Home Assistant's MQTT broker when the Supervisor offers one.
set -eo pipefail

specs_dir="$(bashio::config 'specs_dir')"
if ! bashio::fs.directory_exists "${specs_dir}"; then
  bashio::exit.nok "No folder ${specs_dir}: create it in Home Assistant's configuration directory and put spec files (YAML) in it."
fi

# The API and console, where ingress reaches them: the add-on's address on the Supervisor's network
# (with host networking, the host's side of it), not the LAN. --trust-ingress: the Supervisor's
# proxy (172.30.32.2) brings users Home Assistant has signed in, so the console asks them for no
# token; a request from any other address still needs it.
api_host="$(bashio::addon.ip_address || true)"
args=(
  run "${specs_dir}"
  --state-dir /data/pagecast
  --api "${api_host:-127.0.0.1}:$(bashio::addon.ingress_port)"
  --trust-ingress
  --stream "0.0.0.0:$(bashio::config 'stream_port')"
  --log-level "$(bashio::config 'log_level')"
  --log-format pretty
)
if bashio::config.has_value 'advertise_host'; then
  args+=(--advertise-host "$(bashio::config 'advertise_host')")
fi
if bashio::config.has_value 'selector'; then
  args+=(--selector "$(bashio::config 'selector')")
fi

if bashio::config.true 'mqtt' && bashio::services.available 'mqtt'; then
  scheme=mqtt
  if bashio::var.true "$(bashio::services 'mqtt' 'ssl')"; then scheme=mqtts; fi
  args+=(--mqtt "${scheme}://$(bashio::services 'mqtt' 'host'):$(bashio::services 'mqtt' 'port')")
  # The credentials go in a file only root reads, never on the command line; JSON is YAML.
  credentials=/data/mqtt-credentials.yaml
  (
    umask 077
    jq -n --arg u "$(bashio::services 'mqtt' 'username')" --arg p "$(bashio::services 'mqtt' 'password')" \
      '{username: $u, password: $p}' > "${credentials}"
  )
  args+=(--mqtt-credentials "${credentials}")
  bashio::log.info "MQTT: Home Assistant's broker at $(bashio::services 'mqtt' 'host')"
elif bashio::config.true 'mqtt'; then
  bashio::log.info "MQTT: no broker offered by the Supervisor; the entities are off"
fi

bashio::log.info "pagecast on ${specs_dir}"
exec /usr/local/bin/node /opt/pagecast/dist/controller/cli/cli.js "${args[@]}"
