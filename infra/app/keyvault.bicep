// Key Vault (RBAC): the approval-link signing secret, and the vault Azure ML needs.
param location string
param tags object
param resourceToken string

@secure()
param approvalSecret string

@description('Expiry of the secret (epoch seconds): a year from the deployment; redeploy to rotate.')
param secretExpiry int = dateTimeToEpoch(dateTimeAdd(utcNow(), 'P1Y'))

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: 'kv-${resourceToken}'
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' }
  }
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'approval-secret'
  properties: {
    value: approvalSecret
    contentType: 'text/plain'
    attributes: { exp: secretExpiry }
  }
}

output id string = vault.id
output name string = vault.name
output approvalSecretUri string = secret.properties.secretUri
