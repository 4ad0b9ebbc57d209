// Everything the service needs in one resource group, named from one token. `azd up` deploys it (azure.yaml);
// the Event Grid subscriptions follow in a post-deploy step (app/eventgrid-subscriptions.bicep), because Event
// Grid validates its endpoint and the functions must exist first.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the environment (azd); part of every resource name.')
param environmentName string

@minLength(1)
@description('Azure region for every resource.')
param location string

@description('GPU VM size of the training cluster (scales to zero when idle).')
param gpuVmSize string = 'Standard_NC4as_T4_v3'

@description('Most GPU nodes the training cluster may start.')
@minValue(1)
param gpuMaxNodes int = 1

@description('Object id of the person or CI principal deploying (optional): may upload data and use the workspace.')
param principalId string = ''

@description('Kind of that principal: User (azd up from a shell) or ServicePrincipal (a CI pipeline).')
@allowed(['User', 'ServicePrincipal', 'Group'])
param principalType string = 'User'

@secure()
@description('Secret that signs approval links; by default a new random one each deployment (pending links then expire).')
param approvalSecret string = newGuid()

@description('Key Vault purge protection (production): a torn-down vault then holds its name for 7 days.')
param keyVaultPurgeProtection bool = false

@description('Suffix of the Key Vault name: change it to redeploy an environment whose purge-protected vault is still held.')
@maxLength(8)
param keyVaultNameSuffix string = ''

@description('Client id of an Entra ID app registration for approvers to sign in with (optional; see docs/release-path.md).')
param approverAuthClientId string = ''

@description('Name of the Key Vault secret holding that registration\'s client secret (add it after provisioning).')
param approverAuthSecretName string = 'approver-auth-secret'

@description('Your team\'s Label Studio (any URL the function app reaches; empty: exports stay in the to-label container). Put a personal access token of its user in the vault as label-studio-token; see docs/labelling-loop.md.')
param labelStudioUrl string = ''

@secure()
@description('Shared secret Label Studio\'s webhook sends; by default a new random one each deployment (the service registers the webhook with it on its next push).')
param labelStudioWebhookSecret string = newGuid()

@description('Settings of the retraining service (debounce, budget, training); see docs/settings.md.')
param serviceSettings object = {}

@description('Serve on a provisioned AKS cluster (Azure ML Kubernetes compute) instead of managed online endpoints.')
param kubernetesServing bool = false

@description('Largest GPU serving pool of that cluster (it scales from 0).')
@minValue(1)
param kubernetesGpuMaxNodes int = 1

@description('That cluster\'s TLS host name (with kubernetesSslSecretName); empty: its router serves HTTP (test clusters only). See docs/azure.md.')
param kubernetesSslCname string = ''

@description('The Kubernetes secret (azureml namespace) with cert.pem and key.pem for kubernetesSslCname.')
param kubernetesSslSecretName string = ''

@description('Encryption at host for that cluster\'s nodes: register the subscription feature Microsoft.Compute/EncryptionAtHost first.')
param kubernetesEncryptionAtHost bool = false

@description('Azure ML builds the three images from their Dockerfiles on a small CPU cluster of the workspace (its image build compute) instead of ACR Tasks, which free-credit offers refuse (USE_AML_BUILD; the preflight says when).')
param amlImageBuild bool = false

// With kubernetesServing the function app deploys to the cluster (explicit serviceSettings still win).
var kubernetesSettings = kubernetesServing ? {
  ENDPOINT_KIND: 'kubernetes'
  KUBERNETES_COMPUTE: 'aks-serving'
  SERVING_INSTANCE_TYPE: 'cpu'
} : {}

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName, application: 'tfod-retrain' }

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identities 'app/identities.bicep' = {
  scope: rg
  name: 'identities'
  params: { location: location, tags: tags, resourceToken: resourceToken }
}

module monitoring 'app/monitoring.bicep' = {
  scope: rg
  name: 'monitoring'
  params: { location: location, tags: tags, resourceToken: resourceToken }
}

module data 'app/storage-data.bicep' = {
  scope: rg
  name: 'storage-data'
  params: { location: location, tags: tags, resourceToken: resourceToken }
}

module hostStorage 'app/storage-host.bicep' = {
  scope: rg
  name: 'storage-host'
  params: { location: location, tags: tags, resourceToken: resourceToken }
}

module vault 'app/keyvault.bicep' = {
  scope: rg
  name: 'keyvault'
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    approvalSecret: approvalSecret
    labelStudioWebhookSecret: labelStudioWebhookSecret
    purgeProtection: keyVaultPurgeProtection
    nameSuffix: keyVaultNameSuffix
  }
}

module ml 'app/ml-workspace.bicep' = {
  scope: rg
  name: 'ml-workspace'
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    keyVaultId: vault.outputs.id
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    dataAccountName: data.outputs.name
    computeIdentityId: identities.outputs.computeId
    gpuVmSize: gpuVmSize
    gpuMaxNodes: gpuMaxNodes
    amlImageBuild: amlImageBuild
  }
}

module aks 'app/aks.bicep' = if (kubernetesServing) {
  scope: rg
  name: 'aks'
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    workspaceName: ml.outputs.workspaceName
    logAnalyticsId: monitoring.outputs.logAnalyticsId
    gpuMaxNodes: kubernetesGpuMaxNodes
    sslCname: kubernetesSslCname
    sslSecretName: kubernetesSslSecretName
    encryptionAtHost: kubernetesEncryptionAtHost
  }
}

module function 'app/function.bicep' = {
  scope: rg
  name: 'function'
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    identityId: identities.outputs.functionId
    identityClientId: identities.outputs.functionClientId
    hostStorageName: hostStorage.outputs.name
    deploymentContainer: hostStorage.outputs.deploymentContainer
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    logAnalyticsId: monitoring.outputs.logAnalyticsId
    dataBlobEndpoint: data.outputs.blobEndpoint
    dataTableEndpoint: data.outputs.tableEndpoint
    dataAccountId: data.outputs.id
    approvalSecretUri: vault.outputs.approvalSecretUri
    workspaceName: ml.outputs.workspaceName
    computeName: ml.outputs.computeName
    computeIdentityClientId: identities.outputs.computeClientId
    environmentName: ml.outputs.trainerEnvironment
    servingEnvironment: ml.outputs.servingEnvironment
    servingOnnxEnvironment: ml.outputs.servingOnnxEnvironment
    endpointIdentityId: identities.outputs.endpointId
    endpointIdentityClientId: identities.outputs.endpointClientId
    serviceSettings: union(kubernetesSettings, serviceSettings)
    approverAuthClientId: approverAuthClientId
    labelStudioUrl: labelStudioUrl
    labelStudioTokenUri: empty(labelStudioUrl) ? '' : '${vault.outputs.uri}secrets/label-studio-token'
    labelStudioWebhookSecretUri: vault.outputs.labelStudioWebhookSecretUri
    approverAuthSecretUri: empty(approverAuthClientId) ? '' : '${vault.outputs.uri}secrets/${approverAuthSecretName}'
  }
}

module topic 'app/eventgrid-topic.bicep' = {
  scope: rg
  name: 'eventgrid-topic'
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    dataAccountId: data.outputs.id
    workspaceId: ml.outputs.workspaceId
  }
}

module rbac 'app/rbac.bicep' = {
  scope: rg
  name: 'rbac'
  params: {
    dataAccountName: data.outputs.name
    hostStorageName: hostStorage.outputs.name
    mlStorageName: ml.outputs.mlStorageName
    keyVaultName: vault.outputs.name
    workspaceName: ml.outputs.workspaceName
    registryName: ml.outputs.registryName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    endpointIdentityName: identities.outputs.endpointName
    functionPrincipalId: identities.outputs.functionPrincipalId
    computePrincipalId: identities.outputs.computePrincipalId
    endpointPrincipalId: identities.outputs.endpointPrincipalId
    workspacePrincipalId: ml.outputs.workspacePrincipalId
    topicPrincipalId: topic.outputs.principalId
    principalId: principalId
    principalType: principalType
    aksKubeletPrincipalId: kubernetesServing ? aks.outputs.kubeletPrincipalId : ''
    amlImageBuild: amlImageBuild
  }
}

output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = function.outputs.name
output AZURE_FUNCTION_URL string = function.outputs.url
output AZURE_DATA_STORAGE_ACCOUNT string = data.outputs.name
output AZURE_HOST_STORAGE_ACCOUNT string = hostStorage.outputs.name
output AZURE_ML_WORKSPACE string = ml.outputs.workspaceName
output AZURE_ML_COMPUTE string = ml.outputs.computeName
output AZURE_CONTAINER_REGISTRY_NAME string = ml.outputs.registryName
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = ml.outputs.registryLoginServer
output AZURE_KEY_VAULT_NAME string = vault.outputs.name
output AZURE_EVENTGRID_BLOB_TOPIC string = topic.outputs.name
output AZURE_EVENTGRID_ML_TOPIC string = topic.outputs.mlTopicName
output AZURE_APPLICATION_INSIGHTS string = monitoring.outputs.applicationInsightsName
output AZURE_LOG_ANALYTICS_WORKSPACE string = monitoring.outputs.logAnalyticsName
output AZURE_MONITORING_WORKBOOK string = monitoring.outputs.workbookId
output AZURE_TRAINER_ENVIRONMENT string = ml.outputs.trainerEnvironment
output AZURE_SERVING_ENVIRONMENT string = ml.outputs.servingEnvironment
output AZURE_SERVING_ONNX_ENVIRONMENT string = ml.outputs.servingOnnxEnvironment
output AZURE_ENDPOINT_NAME_PREFIX string = function.outputs.endpointNamePrefix
output AZURE_ML_IMAGE_BUILD_COMPUTE string = ml.outputs.imageBuildCompute
output AZURE_KUBERNETES_COMPUTE string = kubernetesServing ? 'aks-serving' : ''
