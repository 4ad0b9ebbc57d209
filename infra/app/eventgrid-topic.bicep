// Event Grid system topic on the data account (its subscriptions are in eventgrid-subscriptions.bicep).
param location string
param tags object
param resourceToken string
param dataAccountId string

resource topic 'Microsoft.EventGrid/systemTopics@2024-06-01-preview' = {
  name: 'evgt-data-${resourceToken}'
  location: location
  tags: tags
  identity: { type: 'SystemAssigned' }
  properties: {
    source: dataAccountId
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

output name string = topic.name
output principalId string = topic.identity.principalId

param workspaceId string = ''

// Azure ML emits RunCompleted / RunStatusChanged through its own system topic.
resource mlTopic 'Microsoft.EventGrid/systemTopics@2024-06-01-preview' = if (!empty(workspaceId)) {
  name: 'evgt-ml-${resourceToken}'
  location: location
  tags: tags
  properties: {
    source: workspaceId
    topicType: 'Microsoft.MachineLearningServices.Workspaces'
  }
}

output mlTopicName string = empty(workspaceId) ? '' : mlTopic.name
