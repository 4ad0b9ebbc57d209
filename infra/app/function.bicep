// The function app on the Flex Consumption plan (Python 3.11), user-assigned identity, identity-based connections.
// Its app settings are every setting the code reads (shared/settings.py) plus the host's own; a test checks both
// directions.
param location string
param tags object
param resourceToken string
param identityId string
param identityClientId string
param hostStorageName string
param deploymentContainer string
param applicationInsightsConnectionString string
param logAnalyticsId string
param dataBlobEndpoint string
param dataTableEndpoint string
param dataAccountId string
param approvalSecretUri string
param workspaceName string
param computeName string
param computeIdentityClientId string
param environmentName string
param servingEnvironment string
param servingOnnxEnvironment string
param endpointIdentityId string
param endpointIdentityClientId string
param serviceSettings object
@description('Client id of an Entra ID app registration: turns on App Service authentication (sign-in for approvers). Empty: off.')
param approverAuthClientId string = ''
@description('Key Vault secret URI of that registration\'s client secret (for the sign-in flow).')
param approverAuthSecretUri string = ''
@description('The team\'s Label Studio (empty: none).')
param labelStudioUrl string = ''
@description('Key Vault secret URI of its personal access token (empty without a Label Studio).')
param labelStudioTokenUri string = ''
@description('Key Vault secret URI of the shared secret its webhook sends.')
param labelStudioWebhookSecretUri string

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageName
}

// Read by the code (shared/settings.py). Values here are the deployed defaults; `serviceSettings` overrides them.
var appSettings = union({
  DataStorage__blobServiceUri: dataBlobEndpoint
  DataStorage__tableServiceUri: dataTableEndpoint
  DataStorage__clientId: identityClientId
  DATASETS_CONTAINER: 'datasets'
  QUARANTINE_CONTAINER: 'quarantine'
  MANIFESTS_CONTAINER: 'manifests'
  CHECKPOINTS_CONTAINER: 'checkpoints'
  MODELS_CONTAINER: 'models'
  VALIDATION_FRACTION: '0.2'
  MAX_IMAGE_PIXELS: '40000000'
  MAX_IMAGE_BYTES: '52428800'
  MAX_ANNOTATION_BYTES: '1048576'
  MAX_COLLECTION_BYTES: '104857600'
  SNAPSHOT_BUDGET_SECONDS: '300'
  SNAPSHOT_RELIST_HOURS: '24'
  TICK_BUDGET_SECONDS: '600'
  LOG_LEVEL: 'INFO'
  REQUEST_TIMEOUT_SECONDS: '8'
  EXPECTED_BLOB_TOPIC: dataAccountId
  LEDGER_TABLE: 'ledger'
  STATE_TABLE: 'projectstate'
  RUNS_TABLE: 'runs'
  DEBOUNCE_SCHEDULE: '0 * * * * *'
  RELEASE_SCHEDULE: '30 * * * * *'
  QUIET_SECONDS: '120'
  EVENT_LATENESS_SECONDS: '60'
  MAX_WAIT_SECONDS: '1800'
  MIN_NEW_IMAGES: '1'
  MAX_RUNS_PER_DAY: '6'
  MAX_GPU_HOURS_PER_DAY: '12'
  MAX_RUN_ATTEMPTS: '3'
  RETRY_BACKOFF_SECONDS: '300'
  RECONCILE_AFTER_SECONDS: '900'
  CANCEL_RUNNING_ON_NEW_DATA: 'false'
  TRAINING_BACKEND: 'azureml'
  BASE_MODEL: 'base-models/ssd_mobilenet_v2_128'
  TRAIN_STEPS: '2000'
  EXPORT_FORMATS: 'onnx'
  TRAIN_BATCH_SIZE: '16'
  AZURE_SUBSCRIPTION_ID: subscription().subscriptionId
  AZURE_RESOURCE_GROUP: resourceGroup().name
  AML_WORKSPACE: workspaceName
  AML_COMPUTE: computeName
  AML_ENVIRONMENT: environmentName
  AML_INSTANCE_COUNT: '1'
  AML_GPUS_PER_NODE: '1'
  AML_CLIENT_ID: identityClientId
  COMPUTE_IDENTITY_CLIENT_ID: computeIdentityClientId
  GATE_MIN_MAP: '0.0'
  GATE_MIN_MAP_50: '0.0'
  GATE_MIN_CLASS_AP: '0.0'
  GATE_MIN_VALIDATION_IMAGES: '10'
  GATE_MAX_REGRESSION: '0.01'
  GATE_MAX_CLASS_REGRESSION: '0.05'
  GATE_MIN_CLASS_OBJECTS: '10'
  GATE_MAX_EXPORT_MAP_DROP: '0.005'
  GATE_MAX_EDGE_MAP_DROP: ''
  GATE_OVERRIDES: '{}'
  APPROVAL_SECRET: '@Microsoft.KeyVault(SecretUri=${approvalSecretUri})'
  APPROVAL_TTL_HOURS: '72'
  APPROVAL_WEBHOOK_URL: ''
  APPROVERS: ''
  LABEL_STUDIO_URL: labelStudioUrl
  LABEL_STUDIO_TOKEN: empty(labelStudioTokenUri) ? '' : '@Microsoft.KeyVault(SecretUri=${labelStudioTokenUri})'
  LABEL_STUDIO_WEBHOOK_SECRET: '@Microsoft.KeyVault(SecretUri=${labelStudioWebhookSecretUri})'
  RELEASES_TABLE: 'releases'
  ENDPOINT_KIND: 'managed'
  ENDPOINT_NAME_PREFIX: 'tfod-${take(resourceToken, 6)}'
  KUBERNETES_COMPUTE: ''
  AML_SERVING_ENVIRONMENT: servingEnvironment
  AML_SERVING_ONNX_ENVIRONMENT: servingOnnxEnvironment
  SERVING_INSTANCE_TYPE: ''
  SERVING_INSTANCE_COUNT: '1'
  SERVING_THREADS: '16'
  SERVING_WORKERS: '0'
  SERVING_MAX_BATCH: '8'
  SERVING_BATCH_WAIT_MS: '5'
  SERVING_RUNTIME: 'auto'
  ENDPOINT_IDENTITY_ID: endpointIdentityId
  ENDPOINT_IDENTITY_CLIENT_ID: endpointIdentityClientId
  ENDPOINT_TELEMETRY_CONNECTION_STRING: applicationInsightsConnectionString
  INFERENCE_DATA_CONTAINER: 'inference-data'
  DEPLOYMENT_TIMEOUT_MINUTES: '45'
  RELEASE_SHADOW_PERCENT: '10'
  RELEASE_SHADOW_MINUTES: '30'
  RELEASE_SHADOW_REQUESTS: '200'
  RELEASE_SHADOW_MIN_AGREEMENT: '0.25'
  RELEASE_SHADOW_MAX_CLASS_LOSS: '0.6'
  RELEASE_SHADOW_MIN_CLASS_OBJECTS: '10'
  RELEASE_SHADOW_WITHOUT_TRAFFIC: 'switch'
  RELEASE_SHADOW_ORDER: 'approve-then-shadow'
  RELEASE_BAKE_MINUTES: '30'
  RELEASE_MAX_ERROR_SHARE: '0.05'
  RELEASE_MAX_P95_MS: '2000'
  RELEASE_MAX_NO_DETECTION_SHARE: '0.95'
  RELEASE_MIN_REQUESTS: '10'
  LABELLING_CONTAINER: 'to-label'
  LOG_ANALYTICS_WORKSPACE_ID: logAnalyticsId
  DEAD_LETTER_CONTAINER: 'eventgrid-deadletters'
  DEAD_LETTER_SCHEDULE: '0 */5 * * * *'
  LABELLING_SCHEDULE: '0 0 4 * * *'
  LABELLING_LOOKBACK_DAYS: '7'
  LABELLING_MAX_IMAGES: '200'
  LABELLING_SCORE_THRESHOLD: '0.5'
  LABELLING_BAND_LOW: '0.3'
  LABELLING_BAND_HIGH: '0.6'
  LABELLING_CONFIDENT_SHARE: '0.02'
  LABELLING_PRE_ANNOTATION_SCORE: '0.2'
  LABELLING_EXPORT_FORMAT: 'pascal-voc'
  LABELLING_OVERRIDES: '{}'
  DRIFT_MAX_NO_DETECTION_CHANGE: '0.15'
  DRIFT_MAX_TOP_SCORE_CHANGE: '0.1'
  DRIFT_MAX_CLASS_MIX_CHANGE: '0.2'
  DRIFT_MIN_IMAGES: '20'
}, serviceSettings)

// Read by the Functions host, not by the code.
var hostSettings = {
  AzureWebJobsStorage__accountName: hostStorage.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  PYTHON_SCRIPT_FILE_NAME: 'functions_entry.py'
  MICROSOFT_PROVIDER_AUTHENTICATION_SECRET: empty(approverAuthSecretUri) ? '' : '@Microsoft.KeyVault(SecretUri=${approverAuthSecretUri})'
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${resourceToken}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: 'func-${resourceToken}'
  location: location
  tags: union(tags, { 'azd-service-name': 'function' })
  kind: 'functionapp,linux'
  identity: { type: 'UserAssigned', userAssignedIdentities: { '${identityId}': {} } }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [for item in items(union(appSettings, hostSettings)): { name: item.key, value: string(item.value) }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identityId }
        }
      }
      scaleAndConcurrency: { maximumInstanceCount: 40, instanceMemoryMB: 2048 }
      runtime: { name: 'python', version: '3.11' }
    }
  }
}

// Optional: App Service authentication in front of the app, so the approval page knows who approves
// (X-MS-CLIENT-PRINCIPAL). Unauthenticated calls still reach the functions: Event Grid, the status route with its
// key, and approval links opened before signing in.
resource auth 'Microsoft.Web/sites/config@2024-04-01' = if (!empty(approverAuthClientId)) {
  // checkov reads every sites/config as a siteConfig; this one holds only the authentication settings:
  // checkov:skip=CKV_AZURE_13: this resource *is* App Service authentication
  // checkov:skip=CKV_AZURE_63: not a siteConfig (HTTP logging is a siteConfig setting)
  // checkov:skip=CKV_AZURE_65: not a siteConfig (detailed errors is a siteConfig setting)
  // checkov:skip=CKV_AZURE_66: not a siteConfig (failed request tracing is a siteConfig setting)
  // checkov:skip=CKV_AZURE_80: not a siteConfig, and the app runs Python, not .NET
  // checkov:skip=CKV_AZURE_88: not a siteConfig; Flex Consumption has no Azure Files mounts
  parent: app
  name: 'authsettingsV2'
  properties: {
    platform: { enabled: true }
    globalValidation: { requireAuthentication: false, unauthenticatedClientAction: 'AllowAnonymous' }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: approverAuthClientId
          clientSecretSettingName: 'MICROSOFT_PROVIDER_AUTHENTICATION_SECRET'
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: { allowedAudiences: [ 'api://${approverAuthClientId}' ] }
      }
    }
    login: { tokenStore: { enabled: true } }
  }
}

output name string = app.name
output endpointNamePrefix string = appSettings.ENDPOINT_NAME_PREFIX
output id string = app.id
output url string = 'https://${app.properties.defaultHostName}'
