import { describe, expect, it } from 'vitest';
import type { CommandResult } from '../../../src/dataplane/run.js';
import { cleanupUpstream } from '../../../src/dataplane/upstream.js';
import type { DataplaneContext } from '../../../src/dataplane/types.js';

/** A runner that answers `nft list chains` with `listing` and records every command. */
function fakeNft(listing: CommandResult) {
  const calls: string[] = [];
  const run = async (argv: string[]): Promise<CommandResult> => {
    calls.push(argv.join(' '));
    if (argv.join(' ') === 'nft list chains') return listing;
    return { status: 0, stdout: '', stderr: '' };
  };
  return { calls, run };
}

const ctx = {} as DataplaneContext;
const ok = (stdout: string): CommandResult => ({ status: 0, stdout, stderr: '' });

describe('cleanupUpstream: upstream kube-proxy\'s nftables tables', () => {
  it('one listing, and a delete only for the tables that are there', async () => {
    const nft = fakeNft(ok([
      'table ip kube-proxy {', '\tchain nat-prerouting {', '\t\ttype nat hook prerouting priority dstnat; policy accept;', '\t}', '}',
      'table ip6 filter {', '\tchain input {', '\t}', '}',
      'table inet kube-proxy {', '}',
    ].join('\n')));
    expect(await cleanupUpstream(ctx, nft.run)).toEqual(["upstream kube-proxy's nftables table ip kube-proxy"]);
    expect(nft.calls).toEqual(['nft list chains', 'nft delete table ip kube-proxy']);
  });

  it('nothing listed, or nft missing: nothing deleted, nothing said', async () => {
    const none = fakeNft(ok('table ip filter {\n\tchain input {\n\t}\n}\n'));
    expect(await cleanupUpstream(ctx, none.run)).toEqual([]);
    expect(none.calls).toEqual(['nft list chains']);
    const missing = fakeNft({ status: null, stdout: '', stderr: 'spawn nft ENOENT' });
    expect(await cleanupUpstream(ctx, missing.run)).toEqual([]);
    expect(missing.calls).toEqual(['nft list chains']);
  });
});
