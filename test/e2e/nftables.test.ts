import { scenarioSuite } from './suite.js';

scenarioSuite('nftables', 'n');
