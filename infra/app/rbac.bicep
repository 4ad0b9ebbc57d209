// Least-privilege role assignments between the identities and the resources.
param dataAccountName string
param hostStorageName string
param keyVaultName string
param workspaceName string
param registryName string
param applicationInsightsName string
param functionPrincipalId string
param computePrincipalId string
param endpointPrincipalId string
param workspacePrincipalId string
param topicPrincipalId string
@description('Object id of the person deploying (optional).')
param principalId string

var roles = {
  blobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  blobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  blobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  tableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  queueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  azureMLDataScientist: 'f6c7c914-8db3-469d-8ca1-694a8f32e121'
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource data 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: dataAccountName
}

resource dataBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: data
  name: 'default'
}

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource workspace 'Microsoft.MachineLearningServices/workspaces@2024-10-01' existing = {
  name: workspaceName
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: registryName
}

resource insights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Function: reads datasets, writes quarantine/manifests/models records (blob) and its ledger/state/runs (table)
// on the data account only; runs its host on its own account; submits jobs; reads the approval secret.
resource functionData 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: data
  name: guid(data.id, functionPrincipalId, roles.blobDataContributor)
  properties: { principalId: functionPrincipalId, principalType: 'ServicePrincipal', roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataContributor) }
}

resource functionTables 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: data
  name: guid(data.id, functionPrincipalId, roles.tableDataContributor)
  properties: { principalId: functionPrincipalId, principalType: 'ServicePrincipal', roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.tableDataContributor) }
}

resource functionHostBlobs 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: hostStorage
  name: guid(hostStorage.id, functionPrincipalId, roles.blobDataOwner)
  properties: { principalId: functionPrincipalId, principalType: 'ServicePrincipal', roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataOwner) }
}

resource functionHostQueues 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: hostStorage
  name: guid(hostStorage.id, functionPrincipalId, roles.queueDataContributor)
  properties: { principalId: functionPrincipalId, principalType: 'ServicePrincipal', roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.queueDataContributor) }
}

resource functionWorkspace 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: workspace
  name: guid(workspace.id, functionPrincipalId, roles.azureMLDataScientist)
  properties: { principalId: functionPrincipalId, principalType: 'ServicePrincipal', roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.azureMLDataScientist) }
}

resource functionSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault
  name: guid(vault.id, functionPrincipalId, roles.keyVaultSecretsUser)
  properties: { principalId: functionPrincipalId, principalType: 'ServicePrincipal', roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser) }
}

resource functionTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: insights
  name: guid(insights.id, functionPrincipalId, roles.monitoringMetricsPublisher)
  properties: { principalId: functionPrincipalId, principalType: 'ServicePrincipal', roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher) }
}

// Training cluster: reads datasets and manifests, writes checkpoints and models — per container, nothing more.
resource computeReads 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = [for name in ['datasets', 'manifests']: {
  parent: dataBlobs
  name: name
}]

resource computeReadRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in ['datasets', 'manifests']: {
  scope: computeReads[i]
  name: guid(data.id, name, computePrincipalId, roles.blobDataReader)
  properties: { principalId: computePrincipalId, principalType: 'ServicePrincipal', roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataReader) }
}]

resource computeWrites 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = [for name in ['checkpoints', 'models']: {
  parent: dataBlobs
  name: name
}]

resource computeWriteRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in ['checkpoints', 'models']: {
  scope: computeWrites[i]
  name: guid(data.id, name, computePrincipalId, roles.blobDataContributor)
  properties: { principalId: computePrincipalId, principalType: 'ServicePrincipal', roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataContributor) }
}]

resource computePull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: registry
  name: guid(registry.id, computePrincipalId, roles.acrPull)
  properties: { principalId: computePrincipalId, principalType: 'ServicePrincipal', roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.acrPull) }
}

// The endpoints' identity: pulls the serving image, reads models, writes the data collector's output.
resource endpointContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = [for name in ['models', 'inference-data']: {
  parent: dataBlobs
  name: name
}]

resource endpointBlobRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in ['models', 'inference-data']: {
  scope: endpointContainers[i]
  name: guid(data.id, name, endpointPrincipalId, i == 0 ? roles.blobDataReader : roles.blobDataContributor)
  properties: { principalId: endpointPrincipalId, principalType: 'ServicePrincipal', roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', i == 0 ? roles.blobDataReader : roles.blobDataContributor) }
}]

resource endpointPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: registry
  name: guid(registry.id, endpointPrincipalId, roles.acrPull)
  properties: { principalId: endpointPrincipalId, principalType: 'ServicePrincipal', roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.acrPull) }
}

// The workspace's identity mounts the `manifests` and `models` datastores for jobs.
resource workspaceDatastores 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: data
  name: guid(data.id, workspacePrincipalId, roles.blobDataContributor)
  properties: { principalId: workspacePrincipalId, principalType: 'ServicePrincipal', roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataContributor) }
}

// Event Grid's topic identity writes undelivered events to the dead-letter container.
resource deadLetters 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: dataBlobs
  name: 'eventgrid-deadletters'
}

resource topicDeadLetters 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: deadLetters
  name: guid(data.id, topicPrincipalId, roles.blobDataContributor)
  properties: { principalId: topicPrincipalId, principalType: 'ServicePrincipal', roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataContributor) }
}

// The person deploying may read the data and use the workspace.
resource userData 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  scope: data
  name: guid(data.id, principalId, roles.blobDataContributor)
  properties: { principalId: principalId, principalType: 'User', roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataContributor) }
}

resource userWorkspace 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  scope: workspace
  name: guid(workspace.id, principalId, roles.azureMLDataScientist)
  properties: { principalId: principalId, principalType: 'User', roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.azureMLDataScientist) }
}
