// The Kubernetes serving target, provisioned (main.bicep's `kubernetesServing`): an AKS cluster with a system pool
// and CPU and GPU user pools that scale to zero, Azure ML's Kubernetes extension (inference enabled), and the
// cluster attached to the workspace as a Kubernetes compute with one instance type per pool. The function app
// then deploys with ENDPOINT_KIND=kubernetes, KUBERNETES_COMPUTE and SERVING_INSTANCE_TYPE set from here.
param location string
param tags object
param resourceToken string
param workspaceName string
param logAnalyticsId string

@description('VM size of the system pool (Azure ML\'s extension and the inference router run there).')
param systemVmSize string = 'Standard_D4s_v5'

@description('VM size of the CPU serving pool (0 to cpuMaxNodes nodes).')
param cpuVmSize string = 'Standard_D4s_v5'
param cpuMaxNodes int = 3

@description('VM size of the GPU serving pool (0 to gpuMaxNodes nodes: it costs nothing until a GPU deployment).')
param gpuVmSize string = 'Standard_NC4as_T4_v3'
@minValue(1)
param gpuMaxNodes int = 1

@description('TLS on the inference router: the host name clients call (e.g. score.contoso.com), with sslSecretName. Empty: the router serves plain HTTP (Azure ML\'s allowInsecureConnections), for a test cluster only: calls still need the endpoint key, but it travels unencrypted.')
param sslCname string = ''

@description('With sslCname: the Kubernetes secret in the azureml namespace holding cert.pem and key.pem (PEM, full chain, no passphrase) for that name, created before provisioning.')
param sslSecretName string = ''

@description('Encrypt node OS disks and caches at the host. Needs the subscription feature Microsoft.Compute/EncryptionAtHost registered first (az feature register --namespace Microsoft.Compute --name EncryptionAtHost), which a fresh subscription does not have: cluster creation fails without it.')
param encryptionAtHost bool = false

var computeName = 'aks-serving'
var namespace = 'azureml'

resource aks 'Microsoft.ContainerService/managedClusters@2024-05-01' = {
  name: 'aks-${resourceToken}'
  location: location
  tags: tags
  identity: { type: 'SystemAssigned' }
  sku: { name: 'Base', tier: 'Standard' }
  properties: {
    dnsPrefix: 'aks-${resourceToken}'
    enableRBAC: true
    // Azure ML's Kubernetes extension does not support AKS with local accounts disabled (its documented
    // limitations): they stay on, and people still sign in with Entra ID (aadProfile, Azure RBAC).
    disableLocalAccounts: false
    aadProfile: { managed: true, enableAzureRBAC: true }
    autoUpgradeProfile: { upgradeChannel: 'patch', nodeOSUpgradeChannel: 'NodeImage' }
    networkProfile: { networkPlugin: 'azure', networkPluginMode: 'overlay', networkPolicy: 'azure', loadBalancerSku: 'standard' }
    addonProfiles: {
      azurepolicy: { enabled: true }
      omsagent: { enabled: true, config: { logAnalyticsWorkspaceResourceID: logAnalyticsId, useAADAuth: 'true' } }
      azureKeyvaultSecretsProvider: { enabled: true, config: { enableSecretRotation: 'true' } }
    }
    agentPoolProfiles: [
      {
        name: 'system'
        mode: 'System'
        count: 1
        vmSize: systemVmSize
        osType: 'Linux'
        osDiskType: 'Ephemeral'
        maxPods: 50
        enableEncryptionAtHost: encryptionAtHost
      }
      {
        name: 'cpu'
        mode: 'User'
        enableAutoScaling: true
        minCount: 0
        maxCount: cpuMaxNodes
        count: 0
        vmSize: cpuVmSize
        osType: 'Linux'
        osDiskType: 'Ephemeral'
        maxPods: 50
        enableEncryptionAtHost: encryptionAtHost
        nodeLabels: { 'tfod-retrain/pool': 'cpu' }
      }
      {
        name: 'gpu'
        mode: 'User'
        enableAutoScaling: true
        minCount: 0
        maxCount: gpuMaxNodes
        count: 0
        vmSize: gpuVmSize
        osType: 'Linux'
        osDiskType: 'Ephemeral'
        maxPods: 50
        enableEncryptionAtHost: encryptionAtHost
        nodeLabels: { 'tfod-retrain/pool': 'gpu' }
      }
    ]
  }
}

// Azure ML's extension: inference only (training stays on the AmlCompute cluster), its router behind a public
// load balancer, one router replica (inferenceRouterHA off: small clusters). TLS is terminated by the router when a
// certificate is given (sslCname + sslSecret, as Azure ML requires with allowInsecureConnections False: without
// them the router cannot start); without one, plain HTTP, chosen explicitly.
var tls = empty(sslCname) ? { allowInsecureConnections: 'True' } : {
  allowInsecureConnections: 'False'
  sslCname: sslCname
  sslSecret: sslSecretName
}

resource azureml 'Microsoft.KubernetesConfiguration/extensions@2023-05-01' = {
  name: 'azureml'
  scope: aks
  properties: {
    extensionType: 'Microsoft.AzureML.Kubernetes'
    autoUpgradeMinorVersion: true
    releaseTrain: 'stable'
    scope: { cluster: { releaseNamespace: namespace } }
    configurationSettings: union({
      enableInference: 'True'
      enableTraining: 'False'
      inferenceRouterServiceType: 'LoadBalancer'
      inferenceRouterHA: 'False'
      installNvidiaDevicePlugin: 'True'
      installDcgmExporter: 'False'
      clusterPurpose: 'DevTest'
    }, tls)
  }
}

resource workspace 'Microsoft.MachineLearningServices/workspaces@2024-10-01' existing = {
  name: workspaceName
}

// Instance types are the deployments' requests and limits and the pool they land on (nodeSelector); SERVING_
// INSTANCE_TYPE names one. `cpu` is the default.
var cpuInstance = {
  nodeSelector: { 'tfod-retrain/pool': 'cpu' }
  resources: { requests: { cpu: '1', memory: '4Gi' }, limits: { cpu: '2', memory: '8Gi' } }
}
var gpuInstance = {
  nodeSelector: { 'tfod-retrain/pool': 'gpu' }
  resources: { requests: { cpu: '2', memory: '8Gi', 'nvidia.com/gpu': '1' }, limits: { cpu: '4', memory: '16Gi', 'nvidia.com/gpu': '1' } }
}

resource compute 'Microsoft.MachineLearningServices/workspaces/computes@2024-10-01' = {
  parent: workspace
  name: computeName
  location: location
  identity: { type: 'SystemAssigned' }
  properties: {
    computeType: 'Kubernetes'
    resourceId: aks.id
    disableLocalAuth: true
    properties: {
      namespace: namespace
      defaultInstanceType: 'cpu'
      instanceTypes: { cpu: cpuInstance, gpu: gpuInstance }
    }
  }
  dependsOn: [ azureml ]
}

output computeName string = compute.name
output clusterName string = aks.name
output kubeletPrincipalId string = aks.properties.identityProfile.kubeletidentity.objectId
output defaultInstanceType string = 'cpu'
