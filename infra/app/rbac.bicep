// Least-privilege role assignments, one list per kind of scope. Every grant here is a row of the permission
// matrix (infra/permissions.json: who does what, with which role, where); a test fails when the two disagree.
param dataAccountName string
param hostStorageName string
param mlStorageName string
param keyVaultName string
param workspaceName string
param registryName string
param applicationInsightsName string
param endpointIdentityName string
param functionPrincipalId string
param computePrincipalId string
param endpointPrincipalId string
param workspacePrincipalId string
param topicPrincipalId string
@description('Object id of the person or CI principal deploying (optional).')
param principalId string
@description('Kind of that principal: User (azd up from a shell) or ServicePrincipal (a pipeline).')
@allowed(['User', 'ServicePrincipal', 'Group'])
param principalType string = 'User'
@description('Object id of the AKS cluster\'s kubelet identity when serving on Kubernetes (empty: no cluster).')
param aksKubeletPrincipalId string = ''
@description('Azure ML builds the images on the workspace\'s CPU cluster (runs as the compute identity) from contexts the deployer uploads.')
param amlImageBuild bool = false

var roles = {
  blobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  blobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  blobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  tableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  queueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  azureMLDataScientist: 'f6c7c914-8db3-469d-8ca1-694a8f32e121'
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
  acrPush: '8311e382-0749-4cb8-b61a-304f252e45ec'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  managedIdentityOperator: 'f1a07417-d97a-45cb-824c-7a7467783830'
}

var principals = {
  function: functionPrincipalId
  compute: computePrincipalId
  endpoint: endpointPrincipalId
  workspace: workspacePrincipalId
  blobTopic: topicPrincipalId
  deployer: principalId
  aksKubelet: aksKubeletPrincipalId
}

var principalTypes = {
  function: 'ServicePrincipal'
  compute: 'ServicePrincipal'
  endpoint: 'ServicePrincipal'
  workspace: 'ServicePrincipal'
  blobTopic: 'ServicePrincipal'
  deployer: principalType
  aksKubelet: 'ServicePrincipal'
}

var deployerGrants = empty(principalId) ? [] : [
  { principal: 'deployer', role: 'blobDataContributor' }
]

var dataAccountGrants = concat([
  { principal: 'function', role: 'blobDataContributor' }
  { principal: 'function', role: 'tableDataContributor' }
  { principal: 'workspace', role: 'blobDataContributor' }
], deployerGrants)

var dataContainerGrants = [
  { principal: 'compute', container: 'datasets', role: 'blobDataReader' }
  { principal: 'compute', container: 'manifests', role: 'blobDataReader' }
  { principal: 'compute', container: 'checkpoints', role: 'blobDataContributor' }
  { principal: 'compute', container: 'models', role: 'blobDataContributor' }
  { principal: 'endpoint', container: 'models', role: 'blobDataReader' }
  { principal: 'endpoint', container: 'inference-data', role: 'blobDataContributor' }
  { principal: 'blobTopic', container: 'eventgrid-deadletters', role: 'blobDataContributor' }
]

var mlStorageGrants = concat([
  { principal: 'function', role: 'blobDataContributor' }
  { principal: 'compute', role: 'blobDataContributor' }
  { principal: 'endpoint', role: 'blobDataReader' }
], (!amlImageBuild || empty(principalId)) ? [] : [
  { principal: 'deployer', role: 'blobDataContributor' } // the postprovision hook uploads the build contexts
])

var hostStorageGrants = [
  { principal: 'function', role: 'blobDataOwner' }
  { principal: 'function', role: 'queueDataContributor' }
]

var workspaceGrants = concat([
  { principal: 'function', role: 'azureMLDataScientist' }
], empty(principalId) ? [] : [
  { principal: 'deployer', role: 'azureMLDataScientist' }
])

var registryGrants = concat([
  { principal: 'compute', role: 'acrPull' }
  { principal: 'endpoint', role: 'acrPull' }
], empty(aksKubeletPrincipalId) ? [] : [
  { principal: 'aksKubelet', role: 'acrPull' }
], (!amlImageBuild) ? [] : [
  { principal: 'compute', role: 'acrPush' } // the image build cluster pushes what it built
])

var keyVaultGrants = [
  { principal: 'function', role: 'keyVaultSecretsUser' }
]

var appInsightsGrants = [
  { principal: 'function', role: 'monitoringMetricsPublisher' }
  { principal: 'endpoint', role: 'monitoringMetricsPublisher' } // score.py's lines (Entra ID: local auth is off)
]

var endpointIdentityGrants = [
  { principal: 'function', role: 'managedIdentityOperator' }
]

resource data 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: dataAccountName
}

resource dataBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: data
  name: 'default'
}

resource dataContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = [for g in dataContainerGrants: {
  parent: dataBlobs
  name: g.container
}]

resource mlStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: mlStorageName
}

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageName
}

resource workspace 'Microsoft.MachineLearningServices/workspaces@2024-10-01' existing = {
  name: workspaceName
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: registryName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource insights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource endpointIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: endpointIdentityName
}

resource dataAccountRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for g in dataAccountGrants: {
  scope: data
  name: guid(data.id, principals[g.principal], roles[g.role])
  properties: { principalId: principals[g.principal], principalType: principalTypes[g.principal], roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles[g.role]) }
}]

resource dataContainerRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (g, i) in dataContainerGrants: {
  scope: dataContainers[i]
  name: guid(data.id, g.container, principals[g.principal], roles[g.role])
  properties: { principalId: principals[g.principal], principalType: principalTypes[g.principal], roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles[g.role]) }
}]

resource mlStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for g in mlStorageGrants: {
  scope: mlStorage
  name: guid(mlStorage.id, principals[g.principal], roles[g.role])
  properties: { principalId: principals[g.principal], principalType: principalTypes[g.principal], roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles[g.role]) }
}]

resource hostStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for g in hostStorageGrants: {
  scope: hostStorage
  name: guid(hostStorage.id, principals[g.principal], roles[g.role])
  properties: { principalId: principals[g.principal], principalType: principalTypes[g.principal], roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles[g.role]) }
}]

resource workspaceRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for g in workspaceGrants: {
  scope: workspace
  name: guid(workspace.id, principals[g.principal], roles[g.role])
  properties: { principalId: principals[g.principal], principalType: principalTypes[g.principal], roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles[g.role]) }
}]

resource registryRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for g in registryGrants: {
  scope: registry
  name: guid(registry.id, principals[g.principal], roles[g.role])
  properties: { principalId: principals[g.principal], principalType: principalTypes[g.principal], roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles[g.role]) }
}]

resource keyVaultRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for g in keyVaultGrants: {
  scope: vault
  name: guid(vault.id, principals[g.principal], roles[g.role])
  properties: { principalId: principals[g.principal], principalType: principalTypes[g.principal], roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles[g.role]) }
}]

resource appInsightsRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for g in appInsightsGrants: {
  scope: insights
  name: guid(insights.id, principals[g.principal], roles[g.role])
  properties: { principalId: principals[g.principal], principalType: principalTypes[g.principal], roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles[g.role]) }
}]

resource endpointIdentityRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for g in endpointIdentityGrants: {
  scope: endpointIdentity
  name: guid(endpointIdentity.id, principals[g.principal], roles[g.role])
  properties: { principalId: principals[g.principal], principalType: principalTypes[g.principal], roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles[g.role]) }
}]
