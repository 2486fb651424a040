import { scenarioSuite } from './suite.js';

scenarioSuite('iptables', 'i', { ipv6: true });
