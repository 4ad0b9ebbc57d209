// The data account: what people upload, and everything the service writes about it. Identity access only.
param location string
param tags object
param resourceToken string

@description('Containers of the service; names match the *_CONTAINER settings (checked by tests).')
var containers = [
  'datasets'
  'quarantine'
  'manifests'
  'checkpoints'
  'models'
  'inference-data'
  'to-label'
  'eventgrid-deadletters'
]

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'stdata${resourceToken}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_ZRS' }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' }
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: { enabled: true, days: 7 }
    containerDeleteRetentionPolicy: { enabled: true, days: 7 }
  }
}

resource blobContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for name in containers: {
  parent: blobs
  name: name
  properties: { publicAccess: 'None' }
}]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

// Tables of the service; names match the *_TABLE settings (checked by tests). Created here, so the status endpoint
// answers on a fresh deployment, before anything was uploaded.
var tables = [
  'ledger'
  'projectstate'
  'runs'
  'releases'
]

resource serviceTables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for name in tables: {
  parent: tableService
  name: name
}]

output id string = account.id
output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output tableEndpoint string = account.properties.primaryEndpoints.table
output containers array = containers
output tables array = tables
