import { scenarioSuite } from './suite.js';

scenarioSuite('ebpf', 'e');
