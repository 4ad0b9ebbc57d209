// Key Vault (RBAC): the approval-link signing secret, Label Studio's webhook secret, and the vault Azure ML needs.
param location string
param tags object
param resourceToken string

@secure()
param approvalSecret string

@secure()
param labelStudioWebhookSecret string

// With purge protection a deleted vault (and its name) is kept for the whole retention period: the same environment
// can then be torn down and brought back within it only with another `nameSuffix`.
@description('Purge protection (on for production).')
param purgeProtection bool = false

@description('Appended to the vault name: change it to bring an environment back while its old vault is still held.')
@maxLength(8)
param nameSuffix string = ''

@description('Expiry of the secret (epoch seconds): a year from the deployment; redeploy to rotate.')
param secretExpiry int = dateTimeToEpoch(dateTimeAdd(utcNow(), 'P1Y'))

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: 'kv-${take(resourceToken, 13)}${nameSuffix}'
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    // Azure accepts only true or nothing here: null leaves purge protection off.
    enablePurgeProtection: purgeProtection ? true : null
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

resource labelStudioSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'label-studio-webhook-secret'
  properties: {
    value: labelStudioWebhookSecret
    contentType: 'text/plain'
    attributes: { exp: secretExpiry }
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
output approvalSecretUri string = secret.properties.secretUri
output labelStudioWebhookSecretUri string = labelStudioSecret.properties.secretUri
