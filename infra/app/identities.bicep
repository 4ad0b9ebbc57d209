// User-assigned identities: one for the function app, one for the training cluster.
param location string
param tags object
param resourceToken string

resource functionIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-func-${resourceToken}'
  location: location
  tags: tags
}

resource computeIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-train-${resourceToken}'
  location: location
  tags: tags
}

output functionId string = functionIdentity.id
output functionClientId string = functionIdentity.properties.clientId
output functionPrincipalId string = functionIdentity.properties.principalId
output computeId string = computeIdentity.id
output computeClientId string = computeIdentity.properties.clientId
output computePrincipalId string = computeIdentity.properties.principalId
