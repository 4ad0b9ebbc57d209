// Alerts on the service's log lines (infra/monitoring/alerts/), deployed after the function code (azd `postdeploy`
// hook): the action group relays each alert to the approval channel through the function app's `alerts` route,
// whose function key exists once the app runs. E-mail receivers are optional.
//   az deployment group create -g <rg> -f infra/app/alerts.bicep -p functionAppName=... logAnalyticsName=...
param functionAppName string
param logAnalyticsName string
param location string = resourceGroup().location

@description('Comma-separated e-mail addresses that receive every alert (empty: the approval channel only).')
param alertEmails string = ''

@description('Dead-lettered events within 15 minutes that raise the alert (0: any).')
param deadLetteredEvents int = 0

@description('Server errors (5xx) of a deployment, percent of its requests within 15 minutes, above which it alerts.')
param endpointMaxErrorPercent int = 5

@description('p95 latency of a deployment in milliseconds (score.py\'s own measure) above which it alerts.')
param endpointMaxP95Ms int = 1000

@description('Requests a deployment needs within the window before its error rate and latency count.')
param endpointMinRequests int = 20

@description('Minutes without a successful debounce tick before the "timer stopped" alert fires.')
param timerSilenceMinutes int = 10

resource app 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: logAnalyticsName
}

var emails = filter(split(replace(alertEmails, ' ', ''), ','), e => !empty(e))

resource actions 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-tfod-retrain-${uniqueString(resourceGroup().id)}'
  location: 'global'
  properties: {
    groupShortName: 'tfodretrain'
    enabled: true
    emailReceivers: [for (email, i) in emails: {
      name: 'email-${i}'
      emailAddress: email
      useCommonAlertSchema: true
    }]
    webhookReceivers: [
      {
        name: 'approval-channel'
        serviceUri: 'https://${app.properties.defaultHostName}/api/alerts?code=${listKeys('${app.id}/host/default', '2024-04-01').functionKeys.default}'
        useCommonAlertSchema: true
      }
    ]
  }
}

var endpointQuery = replace(replace(replace(loadTextContent('../monitoring/alerts/endpoint-degraded.kql'),
  'let MaxErrorPercent = 5.0;', 'let MaxErrorPercent = ${endpointMaxErrorPercent}.0;'),
  'let MaxP95Ms = 1000.0;', 'let MaxP95Ms = ${endpointMaxP95Ms}.0;'),
  'let MinRequests = 20;', 'let MinRequests = ${endpointMinRequests};')

var rules = [
  {
    name: 'run-failed'
    description: 'A training run failed (its code, or the machine after the last retry). See the failed-runs query.'
    severity: 1
    query: loadTextContent('../monitoring/alerts/run-failed.kql')
    window: 'PT15M'
    operator: 'GreaterThan'
    threshold: 0
    measure: ''
  }
  {
    name: 'events-dead-lettered'
    description: 'Event Grid gave up on events; uploads among them were replayed into the ledger. See the dead-letters query.'
    severity: 2
    query: loadTextContent('../monitoring/alerts/dead-lettered.kql')
    window: 'PT15M'
    operator: 'GreaterThan'
    threshold: deadLetteredEvents
    measure: 'events'
  }
  {
    name: 'release-rolled-back'
    description: 'A release failed its deployment or smoke test; traffic stayed on the live model. See the releases query.'
    severity: 1
    query: loadTextContent('../monitoring/alerts/release-rolled-back.kql')
    window: 'PT15M'
    operator: 'GreaterThan'
    threshold: 0
    measure: ''
  }
  {
    name: 'endpoint-degraded'
    description: 'A deployment answers with too many server errors or too slowly (p95). See the endpoint-requests query.'
    severity: 2
    query: endpointQuery
    window: 'PT15M'
    operator: 'GreaterThan'
    threshold: 0
    measure: ''
  }
  {
    name: 'timer-stopped'
    description: 'No successful debounce tick: uploads would never train.'
    severity: 1
    query: loadTextContent('../monitoring/alerts/timer-stopped.kql')
    window: 'PT${timerSilenceMinutes}M'
    operator: 'LessThan'
    threshold: 1
    measure: ''
  }
  {
    name: 'budget-reached'
    description: 'A project reached its daily cap of runs or GPU hours: its changes wait for tomorrow.'
    severity: 3
    query: loadTextContent('../monitoring/alerts/budget-reached.kql')
    window: 'PT15M'
    operator: 'GreaterThan'
    threshold: 0
    measure: ''
  }
]

resource alerts 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = [for rule in rules: {
  name: 'tfod-retrain-${rule.name}'
  location: location
  properties: {
    displayName: 'tfod-retrain-${rule.name}'
    description: rule.description
    severity: rule.severity
    enabled: true
    scopes: [ logs.id ]
    evaluationFrequency: 'PT5M'
    windowSize: rule.window
    // RetrainEvents is a function saved in the workspace; the test command checks every query with Kusto's parser.
    skipQueryValidation: true
    criteria: {
      allOf: [
        union({
          query: rule.query
          timeAggregation: empty(rule.measure) ? 'Count' : 'Total'
          operator: rule.operator
          threshold: rule.threshold
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }, empty(rule.measure) ? {} : { metricMeasureColumn: rule.measure })
      ]
    }
    autoMitigate: true
    actions: { actionGroups: [ actions.id ] }
  }
}]

output actionGroupId string = actions.id
output alertRuleNames array = [for (rule, i) in rules: alerts[i].name]
