#!/bin/sh
# One-shot Kibana setup for weir's stack (the `kibana-setup` container):
# imports docker/kibana/saved-objects.ndjson — the data views weir-app-*,
# weir-s3-access-* and weir-vpc-flow-*, their visualizations, saved searches
# and the dashboards "weir: …" — replacing earlier versions of the same
# objects, then makes weir-app-* the default data view.
set -eu
kibana=${KIBANA_URL:-http://kibana:5601}
objects=${SAVED_OBJECTS:-/setup/saved-objects.ndjson}

# compose starts this container once Kibana reports healthy; wait anyway, so
# the script also works by hand against a Kibana that is still starting.
tries=0
until curl -fsS "$kibana/api/status" 2>/dev/null | grep -q '"level":"available"'; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "kibana-setup: Kibana at $kibana not available after 5 minutes" >&2
    exit 1
  fi
  sleep 5
done

echo "kibana-setup: importing $objects into $kibana"
answer=$(curl -sS -X POST "$kibana/api/saved_objects/_import?overwrite=true" \
  -H 'kbn-xsrf: true' --form "file=@$objects")
case "$answer" in
  *'"success":true'*) ;;
  *)
    echo "kibana-setup: import failed: $answer" >&2
    exit 1
    ;;
esac
echo "kibana-setup: $answer"

curl -fsS -X POST "$kibana/api/data_views/default" -H 'kbn-xsrf: true' \
  -H 'Content-Type: application/json' \
  -d '{"data_view_id":"weir-app","force":true}' >/dev/null \
  || echo "kibana-setup: could not set the default data view (the dashboards work regardless)" >&2
echo "kibana-setup: done — open $kibana/app/dashboards (dashboards named \"weir: …\")"
