import { scenarioSuite } from './suite.js';

scenarioSuite('ebpf', 'e', { ipv6: true });
