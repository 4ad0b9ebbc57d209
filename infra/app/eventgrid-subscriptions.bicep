// Event Grid subscriptions, deployed after the function code (azd `postdeploy` hook in azure.yaml): Event Grid
// validates an endpoint when the subscription is created, so the functions must already exist.
//   az deployment group create -g <rg> -f infra/app/eventgrid-subscriptions.bicep -p functionAppName=... ...
param functionAppName string
param blobTopicName string
param mlTopicName string
param dataAccountName string

@description('Suffixes the blob_events handler accepts (shared/ledger.py suffix_filters; checked by a test).')
var datasetSuffixes = [
  '.jpg'
  '.jpeg'
  '.png'
  '.gif'
  '.bmp'
  '.webp'
  '.tif'
  '.tiff'
  '.heic'
  '.jfif'
  '.xml'
  '.txt'
  '.json'
  '.yaml'
  '.yml'
  '.names'
  '.data'
  '.pbtxt'
]

resource app 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource blobTopic 'Microsoft.EventGrid/systemTopics@2024-06-01-preview' existing = {
  name: blobTopicName
}

resource mlTopic 'Microsoft.EventGrid/systemTopics@2024-06-01-preview' existing = {
  name: mlTopicName
}

resource dataAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: dataAccountName
}

var retryPolicy = { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 }
var deadLetter = {
  identity: { type: 'SystemAssigned' }
  deadLetterDestination: {
    endpointType: 'StorageBlob'
    properties: { resourceId: dataAccount.id, blobContainerName: 'eventgrid-deadletters' }
  }
}

// Blob uploads → the blob_events webhook, batched (the handler writes ledger rows in 100-row transactions).
resource blobSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2024-06-01-preview' = {
  parent: blobTopic
  name: 'dataset-blobs-to-function'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    deadLetterWithResourceIdentity: deadLetter
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: 'https://${app.properties.defaultHostName}/api/events/blobs?code=${listKeys('${app.id}/host/default', '2024-04-01').functionKeys.default}'
        maxEventsPerBatch: 100
        preferredBatchSizeInKilobytes: 1024
      }
    }
    filter: {
      includedEventTypes: [ 'Microsoft.Storage.BlobCreated', 'Microsoft.Storage.BlobDeleted' ]
      subjectBeginsWith: '/blobServices/default/containers/datasets/blobs/'
      isSubjectCaseSensitive: false
      advancedFilters: [
        { operatorType: 'StringEndsWith', key: 'subject', values: datasetSuffixes }
      ]
    }
    retryPolicy: retryPolicy
  }
}

// Azure ML run events → the run_events function (Event Grid trigger).
resource runSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2024-06-01-preview' = {
  parent: mlTopic
  name: 'training-runs-to-function'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'AzureFunction'
      properties: { resourceId: '${app.id}/functions/run_events', maxEventsPerBatch: 1 }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.MachineLearningServices.RunCompleted'
        'Microsoft.MachineLearningServices.RunStatusChanged'
      ]
    }
    retryPolicy: retryPolicy
  }
}
