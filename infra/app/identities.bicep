// User-assigned identities: one for the function app, one for the training cluster, one for the endpoints.
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

// The online endpoints pull the serving image, read models and write collected inference data with this one.
resource endpointIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-serve-${resourceToken}'
  location: location
  tags: tags
}

output functionId string = functionIdentity.id
output functionClientId string = functionIdentity.properties.clientId
output functionPrincipalId string = functionIdentity.properties.principalId
output computeId string = computeIdentity.id
output computeClientId string = computeIdentity.properties.clientId
output computePrincipalId string = computeIdentity.properties.principalId
output endpointId string = endpointIdentity.id
output endpointName string = endpointIdentity.name
output endpointClientId string = endpointIdentity.properties.clientId
output endpointPrincipalId string = endpointIdentity.properties.principalId
