// Log Analytics and workspace-based Application Insights (function logs, endpoint monitoring).
param location string
param tags object
param resourceToken string

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${resourceToken}'
  location: location
  tags: tags
  properties: {
    retentionInDays: 30
    sku: { name: 'PerGB2018' }
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${resourceToken}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true
  }
}

output applicationInsightsId string = insights.id
output applicationInsightsName string = insights.name
output applicationInsightsConnectionString string = insights.properties.ConnectionString

// The service's log lines as one table (infra/monitoring/RetrainEvents.kql): every saved query and alert reads it.
resource retrainEvents 'Microsoft.OperationalInsights/workspaces/savedSearches@2020-08-01' = {
  parent: logs
  name: 'tfod-retrain-events'
  properties: {
    category: 'tfod-retrain'
    displayName: 'RetrainEvents: the retraining service\'s log lines'
    functionAlias: 'RetrainEvents'
    query: loadTextContent('../monitoring/RetrainEvents.kql')
  }
}

// The named queries (infra/monitoring/queries/), saved in the workspace and shown in one workbook.
var queries = [
  { name: 'batch-timeline', title: 'A batch\'s timeline (why did my upload not train?)', query: loadTextContent('../monitoring/queries/batch-timeline.kql') }
  { name: 'daily-flow', title: 'Uploads, runs and releases per project and day', query: loadTextContent('../monitoring/queries/daily-flow.kql') }
  { name: 'failed-runs', title: 'Failed runs and the trainer\'s last lines', query: loadTextContent('../monitoring/queries/failed-runs.kql') }
  { name: 'gate-failures', title: 'Release gates that failed, with their reasons', query: loadTextContent('../monitoring/queries/gate-failures.kql') }
  { name: 'approvals', title: 'Approvals: which model is live and who approved it', query: loadTextContent('../monitoring/queries/approvals.kql') }
  { name: 'releases', title: 'Releases and rollbacks', query: loadTextContent('../monitoring/queries/releases.kql') }
  { name: 'quarantine', title: 'Quarantined files by reason', query: loadTextContent('../monitoring/queries/quarantine.kql') }
  { name: 'endpoint-requests', title: 'Endpoint requests: p50/p95 latency and errors per deployment', query: loadTextContent('../monitoring/queries/endpoint-requests.kql') }
  { name: 'dead-letters', title: 'Events Event Grid gave up on', query: loadTextContent('../monitoring/queries/dead-letters.kql') }
]

resource savedQueries 'Microsoft.OperationalInsights/workspaces/savedSearches@2020-08-01' = [for q in queries: {
  parent: logs
  name: 'tfod-retrain-${q.name}'
  properties: {
    category: 'tfod-retrain'
    displayName: q.title
    query: q.query
  }
  dependsOn: [ retrainEvents ]
}]

var workbookItems = [for (q, i) in queries: {
  type: 3
  name: q.name
  content: {
    version: 'KqlItem/1.0'
    title: q.title
    // The workbook's parameters fill the queries' own defaults (each file runs as it is in Logs too).
    query: replace(replace(q.query, 'let BatchId = "";', 'let BatchId = "{BatchId}";'), 'let Project = "";', 'let Project = "{Project}";')
    size: 0
    queryType: 0
    resourceType: 'microsoft.operationalinsights/workspaces'
    crossComponentResources: [ logs.id ]
  }
}]

var workbookParameters = {
  type: 9
  name: 'parameters'
  content: {
    version: 'KqlParameterItem/1.0'
    parameters: [
      { id: guid('tfod-retrain', 'BatchId'), version: 'KqlParameterItem/1.0', name: 'BatchId', label: 'Batch id (empty: the latest)', type: 1, value: '' }
      { id: guid('tfod-retrain', 'Project'), version: 'KqlParameterItem/1.0', name: 'Project', label: 'Project (empty: all)', type: 1, value: '' }
    ]
  }
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, 'tfod-retrain-workbook', resourceToken)
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'TFOD retraining service'
    category: 'workbook'
    sourceId: logs.id
    serializedData: string({
      version: 'Notebook/1.0'
      items: concat([ workbookParameters ], workbookItems)
      fallbackResourceIds: [ logs.id ]
    })
  }
  dependsOn: [ retrainEvents ]
}

output logAnalyticsId string = logs.id
output logAnalyticsName string = logs.name
output workbookId string = workbook.id
