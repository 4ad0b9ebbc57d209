#!/bin/sh
# After the function code is deployed: create the Event Grid subscriptions (blob uploads → blob_events webhook,
# Azure ML runs → run_events), then the alerts. Event Grid validates a subscription's destination when it is created,
# and a function just deployed is not always listed yet ("destination endpoint not found"): wait for both functions
# to be listed, then create, retrying a few times; bounded, and saying what it waits for.
set -eu
TRIES="${POSTDEPLOY_TRIES:-20}"
PAUSE="${POSTDEPLOY_PAUSE_SECONDS:-15}"

wait_for_function() {
  n=1
  until az functionapp function show --resource-group "$AZURE_RESOURCE_GROUP" --name "$AZURE_FUNCTION_APP_NAME" \
          --function-name "$1" --query name --output tsv >/dev/null 2>&1; do
    if [ "$n" -ge "$TRIES" ]; then
      echo "postdeploy: $AZURE_FUNCTION_APP_NAME still does not list the function $1 after $TRIES checks:" \
           "check the deployment's log (azd deploy), then run azd hooks run postdeploy" >&2
      return 1
    fi
    echo "postdeploy: waiting for $AZURE_FUNCTION_APP_NAME to list $1 (check $n of $TRIES; the code was just deployed)"
    n=$((n + 1))
    sleep "$PAUSE"
  done
}

subscribe() {
  az deployment group create --resource-group "$AZURE_RESOURCE_GROUP" \
    --template-file infra/app/eventgrid-subscriptions.bicep \
    --parameters functionAppName="$AZURE_FUNCTION_APP_NAME" blobTopicName="$AZURE_EVENTGRID_BLOB_TOPIC" \
                 mlTopicName="$AZURE_EVENTGRID_ML_TOPIC" dataAccountName="$AZURE_DATA_STORAGE_ACCOUNT"
}

wait_for_function blob_events
wait_for_function run_events
n=1
until subscribe; do
  if [ "$n" -ge 3 ]; then
    echo "postdeploy: the Event Grid subscriptions failed 3 times (see above); run azd hooks run postdeploy" >&2
    exit 1
  fi
  echo "postdeploy: the Event Grid subscriptions failed (a destination not reachable yet?): again in $PAUSE s"
  n=$((n + 1))
  sleep "$PAUSE"
done
# Alerts relayed to the approval channel through the function app's `alerts` route (its key exists now), and to
# AZURE_ALERT_EMAILS (comma-separated, optional: `azd env set AZURE_ALERT_EMAILS ops@example.com`).
az deployment group create --resource-group "$AZURE_RESOURCE_GROUP" \
  --template-file infra/app/alerts.bicep \
  --parameters functionAppName="$AZURE_FUNCTION_APP_NAME" logAnalyticsName="$AZURE_LOG_ANALYTICS_WORKSPACE" \
               alertEmails="${AZURE_ALERT_EMAILS:-}"
