#!/bin/sh
# After the function code is deployed: create the Event Grid subscriptions (blob uploads → blob_events webhook,
# Azure ML runs → run_events).
set -eu
az deployment group create --resource-group "$AZURE_RESOURCE_GROUP" \
  --template-file infra/app/eventgrid-subscriptions.bicep \
  --parameters functionAppName="$AZURE_FUNCTION_APP_NAME" blobTopicName="$AZURE_EVENTGRID_BLOB_TOPIC" \
               mlTopicName="$AZURE_EVENTGRID_ML_TOPIC" dataAccountName="$AZURE_DATA_STORAGE_ACCOUNT"
# Alerts relayed to the approval channel through the function app's `alerts` route (its key exists now), and to
# AZURE_ALERT_EMAILS (comma-separated, optional: `azd env set AZURE_ALERT_EMAILS ops@example.com`).
az deployment group create --resource-group "$AZURE_RESOURCE_GROUP" \
  --template-file infra/app/alerts.bicep \
  --parameters functionAppName="$AZURE_FUNCTION_APP_NAME" logAnalyticsName="$AZURE_LOG_ANALYTICS_WORKSPACE" \
               alertEmails="${AZURE_ALERT_EMAILS:-}"
