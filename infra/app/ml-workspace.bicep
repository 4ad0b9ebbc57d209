// Azure ML: workspace (with its Key Vault, registry, Application Insights and identity-based storage), the GPU
// cluster that scales to zero, datastores named like the data containers, and the trainer environment.
param location string
param tags object
param resourceToken string
param keyVaultId string
param applicationInsightsId string
param dataAccountName string
param computeIdentityId string
@description('Azure ML environment that serves score.py on the online endpoints.')
param servingEnvironment string = 'tfod-serving-cpu'
param servingOnnxEnvironment string = 'tfod-serving-onnx'
param gpuVmSize string
param gpuMaxNodes int
@description('Azure ML builds the images from their Dockerfiles on a small CPU cluster (the workspace\'s image build compute), not ACR Tasks: the environments get their versions from the postprovision hook, with build contexts.')
param amlImageBuild bool = false
param buildVmSize string = 'Standard_DS3_v2'

var computeName = 'gpu-cluster'
var buildComputeName = 'image-build'
var trainerEnvironment = 'tfod-trainer-gpu'

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: 'cr${resourceToken}'
  location: location
  tags: tags
  sku: { name: 'Basic' }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
  }
}

resource mlStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'stml${resourceToken}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' }
  }
}

resource dataAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: dataAccountName
}

// 2025-12-01: the first stable API whose spec has systemDatastoresAuthMode (AccessKey, Identity, UserDelegationSAS), as
// azure-ai-ml 1.35's ARM client generated from it shows; 2024-10-01's has not.
resource workspace 'Microsoft.MachineLearningServices/workspaces@2025-12-01' = {
  name: 'mlw-${resourceToken}'
  location: location
  tags: tags
  identity: { type: 'SystemAssigned' }
  sku: { name: 'Basic', tier: 'Basic' }
  properties: {
    friendlyName: 'TF object detection retraining'
    storageAccount: mlStorage.id
    keyVault: keyVaultId
    applicationInsights: applicationInsightsId
    containerRegistry: registry.id
    systemDatastoresAuthMode: 'Identity'
    publicNetworkAccess: 'Enabled'
    v1LegacyMode: false
    // with it, environment images build on that cluster; without, with the registry's ACR Tasks
    imageBuildCompute: amlImageBuild ? buildComputeName : null
  }
}

// Builds the images when ACR Tasks are refused (free-credit offers): one small CPU node, only while building.
resource buildCompute 'Microsoft.MachineLearningServices/workspaces/computes@2024-10-01' = if (amlImageBuild) {
  parent: workspace
  name: buildComputeName
  location: location
  identity: { type: 'UserAssigned', userAssignedIdentities: { '${computeIdentityId}': {} } }
  properties: {
    computeType: 'AmlCompute'
    disableLocalAuth: true
    properties: {
      vmSize: buildVmSize
      vmPriority: 'Dedicated'
      osType: 'Linux'
      scaleSettings: { minNodeCount: 0, maxNodeCount: 1, nodeIdleTimeBeforeScaleDown: 'PT5M' }
      remoteLoginPortPublicAccess: 'Disabled'
      enableNodePublicIp: true
    }
  }
}

resource compute 'Microsoft.MachineLearningServices/workspaces/computes@2024-10-01' = {
  parent: workspace
  name: computeName
  location: location
  identity: { type: 'UserAssigned', userAssignedIdentities: { '${computeIdentityId}': {} } }
  properties: {
    computeType: 'AmlCompute'
    disableLocalAuth: true
    properties: {
      vmSize: gpuVmSize
      vmPriority: 'Dedicated'
      osType: 'Linux'
      scaleSettings: { minNodeCount: 0, maxNodeCount: gpuMaxNodes, nodeIdleTimeBeforeScaleDown: 'PT10M' }
      remoteLoginPortPublicAccess: 'Disabled'
      enableNodePublicIp: true
    }
  }
}

// One datastore per container the jobs mount, named like the container (identity access, no keys).
// `checkpoints` serves a project's TFRecord shard cache as a read-only mount; `inferencedata` receives the
// endpoints' data collector output (datastore names allow no hyphen).
var datastoreContainers = [
  { name: 'manifests', container: 'manifests' }
  { name: 'models', container: 'models' }
  { name: 'checkpoints', container: 'checkpoints' }
  { name: 'inferencedata', container: 'inference-data' }
]

resource datastores 'Microsoft.MachineLearningServices/workspaces/datastores@2024-10-01' = [for store in datastoreContainers: {
  parent: workspace
  name: store.name
  properties: {
    datastoreType: 'AzureBlob'
    accountName: dataAccount.name
    containerName: store.container
    endpoint: environment().suffixes.storage
    protocol: 'https'
    credentials: { credentialsType: 'None' }
    serviceDataAccessAuthIdentity: 'WorkspaceSystemAssignedIdentity'
  }
}]

// The trainer image is built into the registry by the azd `postprovision` hook (az acr build, or the local Docker);
// with amlImageBuild the hook gives each environment a version with its build context instead (Azure ML builds it).
resource environmentContainer 'Microsoft.MachineLearningServices/workspaces/environments@2024-10-01' = {
  parent: workspace
  name: trainerEnvironment
  properties: { description: 'TensorFlow 2.15 + TF Object Detection API trainer (trainer_image/Dockerfile.gpu)' }
}

resource environmentVersion 'Microsoft.MachineLearningServices/workspaces/environments/versions@2024-10-01' = if (!amlImageBuild) {
  parent: environmentContainer
  name: '1'
  properties: {
    image: '${registry.properties.loginServer}/tfod-trainer:gpu'
    osType: 'Linux'
  }
}

// The serving image (trainer_image/Dockerfile: TensorFlow + azureml-inference-server-http) runs score.py; the
// inference server listens on 5001 and answers liveness/readiness on /.
resource servingContainer 'Microsoft.MachineLearningServices/workspaces/environments@2024-10-01' = {
  parent: workspace
  name: servingEnvironment
  properties: { description: 'TensorFlow 2.15 + azureml-inference-server-http: runs trainer_image/serving/score.py' }
}

resource servingVersion 'Microsoft.MachineLearningServices/workspaces/environments/versions@2024-10-01' = if (!amlImageBuild) {
  parent: servingContainer
  name: '1'
  properties: {
    image: '${registry.properties.loginServer}/tfod-trainer:cpu'
    osType: 'Linux'
    inferenceConfig: {
      livenessRoute: { port: 5001, path: '/' }
      readinessRoute: { port: 5001, path: '/' }
      scoringRoute: { port: 5001, path: '/score' }
    }
  }
}

// The ONNX-only serving image (trainer_image/Dockerfile.serving-onnx: ONNX Runtime, no TensorFlow) runs the same
// score.py for models whose ONNX export passed its parity gate: a slimmer image and a faster start.
resource servingOnnxContainer 'Microsoft.MachineLearningServices/workspaces/environments@2024-10-01' = {
  parent: workspace
  name: servingOnnxEnvironment
  properties: { description: 'ONNX Runtime + azureml-inference-server-http, no TensorFlow: runs trainer_image/serving/score.py' }
}

resource servingOnnxVersion 'Microsoft.MachineLearningServices/workspaces/environments/versions@2024-10-01' = if (!amlImageBuild) {
  parent: servingOnnxContainer
  name: '1'
  properties: {
    image: '${registry.properties.loginServer}/tfod-serving:onnx'
    osType: 'Linux'
    inferenceConfig: {
      livenessRoute: { port: 5001, path: '/' }
      readinessRoute: { port: 5001, path: '/' }
      scoringRoute: { port: 5001, path: '/score' }
    }
  }
}

output workspaceName string = workspace.name
output workspaceId string = workspace.id
output workspacePrincipalId string = workspace.identity.principalId
output computeName string = compute.name
output imageBuildCompute string = amlImageBuild ? buildComputeName : ''
output registryName string = registry.name
output mlStorageName string = mlStorage.name
output registryLoginServer string = registry.properties.loginServer
output trainerEnvironment string = '${trainerEnvironment}@latest'
output servingEnvironment string = '${servingEnvironment}@latest'
output servingOnnxEnvironment string = '${servingOnnxEnvironment}@latest'
