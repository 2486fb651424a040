// Desired states for the ipvs unit tests, from API objects through buildDesiredState.
import { buildDesiredState, type DesiredState, type NodeContext } from '../../../../src/model/index.js';
import { NODE } from '../../model/fixtures.js';

type Obj = Record<string, unknown>;

export function state(services: Obj[], endpointSlices: Obj[], node: NodeContext = NODE): DesiredState {
  const r = buildDesiredState({ services, endpointSlices, node });
  if (r.problems.length) throw new Error(JSON.stringify(r.problems));
  return r.state;
}
