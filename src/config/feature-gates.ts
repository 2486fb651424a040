// kube-proxy's featureGates (and --feature-gates). kube-proxy sets them on the process-wide gate
// registry of Kubernetes, so it knows every gate of every component, not only its own: a
// cluster-wide set (kind copies its cluster's featureGates into kube-proxy's ConfigMap) loads
// there, and must here. The names and specs below are kube-proxy v1.35's (pkg/features,
// apiserver's and apiextensions-apiserver's, client-go's, component-base's logs, metrics and
// zpages gates), at their v1.35 defaults. kube-proxy v1.35 refuses an unknown name or a locked
// gate set against its lock; here both are named in a warning at start and ignored, since a
// cluster of another version names other gates (one its kube-proxy knows and v1.35 does not, one
// it locks later): a replacement that refused them would not start where kube-proxy did. A gate
// kube-proxy itself never reads (a kubelet's, a scheduler's) is accepted and does nothing in
// either. Of the gates kube-proxy reads, only PreferSameTrafficDistribution changes anything we
// do; the others are named at start when set to what we cannot honour. Gate dependencies
// (v1.35's AddDependencies) are not checked: none involves a gate that changes what we do.

interface GateSpec {
  readonly default: boolean;
  readonly locked: boolean;
}

const ALPHA_OFF = [
  'AllowUnsafeMalformedObjectDeletion', 'APIServingWithRoutine', 'CBORServingAndStorage', 'ClientsAllowCBOR', 'ClientsPreferCBOR',
  'CloudControllerManagerWatchBasedRoutesReconciliation', 'CloudControllerManagerWebhook', 'ComponentFlagz', 'ComponentStatusz',
  'ConstrainedImpersonation', 'ContainerStopSignals', 'CPUManagerPolicyAlphaOptions', 'CrossNamespaceVolumeDataSource', 'CSIVolumeHealth',
  'CustomCPUCFSQuotaPeriod', 'DRAConsumableCapacity', 'DRADeviceBindingConditions', 'DRADeviceTaintRules', 'DRADeviceTaints',
  'DRAExtendedResource', 'DRAPartitionableDevices', 'EventedPLEG', 'GangScheduling', 'GenericWorkload', 'HPAScaleToZero',
  'ImageVolumeWithDigest', 'InformerMetrics', 'InPlacePodLevelResourcesVerticalScaling', 'InPlacePodVerticalScalingExclusiveCPUs',
  'InPlacePodVerticalScalingExclusiveMemory', 'InTreePluginPortworxUnregister', 'KubeletInUserNamespace', 'LoggingAlphaOptions',
  'MemoryQoS', 'MutablePodResourcesForSuspendedJobs', 'MutablePVNodeAffinity', 'MutableSchedulingDirectivesForSuspendedJobs',
  'NodeDeclaredFeatures', 'PodAndContainerStatsFromCRI', 'PodLogsQuerySplitStreams', 'QOSReserved', 'ReduceDefaultCrashLoopBackOffDecay',
  'RelaxedServiceNameValidation', 'ResourceHealthStatus', 'RestartAllContainersOnContainerExits', 'RuntimeClassInImageCriAPI',
  'StorageCapacityScoring', 'StorageVersionAPI', 'StrictIPCIDRValidation', 'TaintTolerationComparisonOperators',
  'TopologyManagerPolicyAlphaOptions', 'UnknownVersionInteroperabilityProxy', 'UserNamespacesHostNetworkSupport', 'VolumeLimitScaling',
  'WindowsCPUAndMemoryAffinity',
  // The registry's own: every alpha, every beta gate not named, set at once.
  'AllAlpha', 'AllBeta',
];

const BETA_ON = [
  'AllowParsingUserUIDFromCertAuth', 'APIResponseCompression', 'APIServerIdentity', 'AuthorizePodWebsocketUpgradeCreatePermission',
  'ClearingNominatedNodeNameAfterBinding', 'ContainerCheckpoint', 'ContainerRestartRules', 'ContextualLogging', 'CPUManagerPolicyBetaOptions',
  'CSIServiceAccountTokenSecrets', 'DeclarativeValidation', 'DeploymentReplicaSetTerminatingReplicas', 'DetectCacheInconsistency',
  'DisableCPUQuotaWithExclusiveCPUs', 'DRAAdminAccess', 'DRAPrioritizedList', 'DRAResourceClaimDeviceStatus', 'DRASchedulerFilterTimeout',
  'EnvFiles', 'ExternalServiceAccountTokenSigner', 'GracefulNodeShutdown', 'GracefulNodeShutdownBasedOnPodPriority',
  'HostnameOverride', 'HPAConfigurableTolerance', 'ImageVolume', 'InOrderInformers', 'KubeletCrashLoopBackOffMax',
  'KubeletEnsureSecretPulledImages', 'KubeletFineGrainedAuthz', 'KubeletPodResourcesDynamicResources', 'KubeletPodResourcesGet',
  'KubeletPSI', 'KubeletSeparateDiskGC', 'KubeletServiceAccountTokenForCredentialProviders', 'ListFromCacheSnapshot', 'LoggingBetaOptions',
  'MatchLabelKeysInPodTopologySpread', 'MatchLabelKeysInPodTopologySpreadSelectorMerge', 'MaxUnavailableStatefulSet',
  'MutableCSINodeAllocatableCount', 'NominatedNodeNameForExpectation', 'OpenAPIEnums', 'OpportunisticBatching', 'PodDeletionCost',
  'PodLevelResources', 'PodReadyToStartContainersCondition', 'PodTopologyLabelsAdmission', 'PortForwardWebsockets',
  'PreventStaticPodAPIReferences', 'ProcMountType', 'ReloadKubeletServerCertificateFile', 'RemoteRequestHeaderUID',
  'RotateKubeletServerCertificate', 'SchedulerAsyncPreemption', 'SchedulerPopFromBackoffQ', 'SELinuxChangePolicy',
  'SELinuxMountReadWriteOncePod', 'ServiceAccountNodeAudienceRestriction', 'SizeBasedListCostEstimate',
  'StatefulSetSemanticRevisionComparison', 'StorageVersionHash', 'StructuredAuthenticationConfigurationEgressSelector',
  'StructuredAuthenticationConfigurationJWKSMetrics', 'TokenRequestServiceAccountUIDValidation', 'TopologyManagerPolicyBetaOptions',
  'TranslateStreamCloseWebsocketRequests', 'UnauthenticatedHTTP2DOSMitigation', 'UserNamespacesSupport', 'WatchList', 'WatchListClient',
  'WindowsGracefulNodeShutdown',
];

const BETA_OFF = [
  'ClusterTrustBundle', 'ClusterTrustBundleProjection', 'ConcurrentWatchObjectDecode', 'CoordinatedLeaderElection',
  'CRDObservedGenerationTracking', 'DeclarativeValidationTakeover', 'LocalStorageCapacityIsolationFSQuotaMonitoring',
  'MutatingAdmissionPolicy', 'NodeLogQuery', 'PodCertificateRequest', 'SchedulerAsyncAPICalls', 'SELinuxMount', 'StorageVersionMigrator',
  'WatchCacheInitializationPostStartHook',
];

const GA_ON = ['InformerResourceVersion', 'TopologyManagerPolicyOptions', 'VolumeAttributesClass'];

const GA_LOCKED_ON = [
  'AnonymousAuthConfigurableEndpoints', 'AnyVolumeDataSource', 'APIServerTracing', 'AuthorizeNodeWithSelectors', 'AuthorizeWithSelectors',
  'BtreeWatchCache', 'ConsistentListFromCache', 'CPUManagerPolicyOptions', 'CRDValidationRatcheting', 'CSIMigrationPortworx',
  'CustomResourceFieldSelectors', 'DisableAllocatorDualWrite', 'DynamicResourceAllocation', 'ExecProbeTimeout', 'HonorPVReclaimPolicy',
  'ImageMaximumGCAge', 'InPlacePodVerticalScaling', 'JobBackoffLimitPerIndex', 'JobManagedBy', 'JobPodReplacementPolicy', 'JobSuccessPolicy',
  'KubeletCgroupDriverFromCRI', 'KubeletTracing', 'LogarithmicScaleDown', 'MatchLabelKeysInPodAffinity', 'MemoryManager',
  'MultiCIDRServiceAllocator', 'NFTablesProxyMode', 'NodeInclusionPolicyInPodTopologySpread', 'NodeSwap', 'OrderedNamespaceDeletion',
  'PodLifecycleSleepAction', 'PodLifecycleSleepActionAllowZero', 'PodObservedGenerationTracking', 'PodSchedulingReadiness',
  'PreferSameTrafficDistribution', 'RecoverVolumeExpansionFailure', 'RecursiveReadOnlyMounts', 'RelaxedDNSSearchValidation',
  'RelaxedEnvironmentVariableValidation', 'ResilientWatchCacheInitialization', 'RetryGenerateName', 'SchedulerQueueingHints',
  'SeparateTaintEvictionController', 'ServiceAccountTokenJTI', 'ServiceAccountTokenNodeBinding', 'ServiceAccountTokenNodeBindingValidation',
  'ServiceAccountTokenPodNodeInfo', 'ServiceTrafficDistribution', 'SidecarContainers', 'StreamingCollectionEncodingToJSON',
  'StreamingCollectionEncodingToProtobuf', 'StructuredAuthenticationConfiguration', 'StructuredAuthorizationConfiguration',
  'SupplementalGroupsPolicy', 'SystemdWatchdog', 'TopologyAwareHints', 'WinDSR', 'WinOverlay',
];

const DEPRECATED_OFF = [
  'AllowDNSOnlyNodeCSR', 'AllowInsecureKubeletCertificateSigningRequests', 'ChangeContainerStatusOnKubeletRestart', 'GitRepoVolumeDriver',
  'InPlacePodVerticalScalingAllocatedStatus', 'KMSv1', 'KubeletRegistrationGetOnExistsOnly', 'SeparateCacheWatchRPC', 'WindowsHostNetwork',
];
const DEPRECATED_ON = ['DisableNodeKubeProxyVersion', 'KubeletPodResourcesListUseActivePods', 'StorageNamespaceIndex'];
const DEPRECATED_LOCKED_OFF = ['AllowOverwriteTerminationGracePeriodSeconds', 'WatchFromStorageWithoutResourceVersion'];
const DEPRECATED_LOCKED_ON = ['AggregatedDiscoveryRemoveBetaType'];

const specs = (names: string[], spec: GateSpec) => names.map((n): [string, GateSpec] => [n, spec]);

const FEATURE_GATES: ReadonlyMap<string, GateSpec> = new Map([
  ...specs([...ALPHA_OFF, ...BETA_OFF, ...DEPRECATED_OFF], { default: false, locked: false }),
  ...specs([...BETA_ON, ...GA_ON, ...DEPRECATED_ON], { default: true, locked: false }),
  ...specs([...GA_LOCKED_ON, ...DEPRECATED_LOCKED_ON], { default: true, locked: true }),
  ...specs(DEPRECATED_LOCKED_OFF, { default: false, locked: true }),
]);

/**
 * Ours to honour although v1.35 locks it on: kube-proxy v1.33-1.34 took false (no node hints),
 * and the model has it (NodeContext.preferSameNode), so a 1.34 cluster's ConfigMap keeps working.
 */
const HONOURED_AGAINST_LOCK = new Set(['PreferSameTrafficDistribution']);

/** What kube-proxy v1.35's SetFromMap would refuse in `gates` (in its words), gate by gate. */
function refusedByV135(gates: Readonly<Record<string, boolean>>): { gate: string; value: boolean; reason: string }[] {
  const out: { gate: string; value: boolean; reason: string }[] = [];
  for (const [gate, value] of Object.entries(gates)) {
    const spec = FEATURE_GATES.get(gate);
    if (!spec) out.push({ gate, value, reason: `unrecognized feature gate: ${gate} (kube-proxy v1.35 would not start); ignored` });
    else if (spec.locked && value !== spec.default && !HONOURED_AGAINST_LOCK.has(gate)) {
      out.push({ gate, value, reason: `cannot set feature gate ${gate} to ${value}, feature is locked to ${spec.default} (kube-proxy v1.35 would not start); ignored` });
    }
  }
  return out;
}

/** Whether a gate is on: as given, else its default. */
function featureEnabled(gates: Readonly<Record<string, boolean>>, name: string): boolean {
  return Object.hasOwn(gates, name) ? gates[name]! : FEATURE_GATES.get(name)?.default ?? false;
}

/** The PreferSameTrafficDistribution gate: whether forNodes hints are honoured (NodeContext.preferSameNode). */
export function preferSameNode(cfg: { readonly featureGates: Readonly<Record<string, boolean>> }): boolean {
  return featureEnabled(cfg.featureGates, 'PreferSameTrafficDistribution');
}

/**
 * Gates kube-proxy reads for something we do not have: why they change nothing here, and the
 * value that changes nothing in kube-proxy either (the default, but for AllAlpha and AllBeta,
 * which flip the alpha and beta gates among these: AllBeta=true flips none of them).
 */
const UNHONOURED: ReadonlyMap<string, { reason: string; noOp?: boolean }> = new Map([
  ['ComponentFlagz', { reason: 'the /flagz and /statusz pages are not served' }],
  ['ComponentStatusz', { reason: 'the /flagz and /statusz pages are not served' }],
  ['InformerMetrics', { reason: 'informer metrics are not exported' }],
  ['ContextualLogging', { reason: 'logging is ours, not component-base\'s' }],
  ['LoggingAlphaOptions', { reason: 'logging is ours, not component-base\'s' }],
  ['LoggingBetaOptions', { reason: 'logging is ours, not component-base\'s' }],
  ['ClientsAllowCBOR', { reason: 'the API client is not client-go' }],
  ['ClientsPreferCBOR', { reason: 'the API client is not client-go' }],
  ['InOrderInformers', { reason: 'the API client is not client-go' }],
  ['InformerResourceVersion', { reason: 'the API client is not client-go' }],
  ['WatchListClient', { reason: 'the API client is not client-go' }],
  ['AllAlpha', { reason: 'gates are taken one by one here' }],
  ['AllBeta', { reason: 'gates are taken one by one here', noOp: true }],
]);

/**
 * The gates of `gates` kube-proxy v1.35 would refuse, and those set to what kube-proxy would act
 * on and we cannot: for a warning at start, each with why.
 */
export function unhonouredFeatureGates(gates: Readonly<Record<string, boolean>>): { gate: string; value: boolean; reason: string }[] {
  const out = refusedByV135(gates);
  for (const [gate, value] of Object.entries(gates)) {
    const u = UNHONOURED.get(gate);
    if (u && value !== (u.noOp ?? FEATURE_GATES.get(gate)?.default)) out.push({ gate, value, reason: u.reason });
  }
  return out;
}
