// kube-proxy's health (10256) and metrics (10249) servers as it runs them: one that cannot bind is
// retried, or ends the process with bindAddressHardFail.
import type { Server } from 'node:http';
import { listen, type HttpEndpoints } from './health.js';
import type { Logger } from './log.js';

/**
 * The health and metrics servers, as kube-proxy runs them: one that cannot bind (the port taken,
 * say by a kube-proxy still running on the node) is logged and tried again every 5 s, or, with
 * bindAddressHardFail, ends the process.
 */
export class HttpServers {
  private readonly servers: Server[] = [];
  private readonly retries: NodeJS.Timeout[] = [];
  private closed = false;

  constructor(private readonly hardFail: boolean, private readonly log: Logger, private readonly retryMs = 5000) {}

  /** False when the server could not bind and that is fatal. */
  async serve(what: string, bind: string, routes: HttpEndpoints): Promise<boolean> {
    const attempt = async (): Promise<boolean> => {
      const s = await listen(bind, routes);
      // A retry that bound after close(): nobody would close it, and it would hold the process.
      if (s && this.closed) s.close();
      else if (s) this.servers.push(s);
      return true;
    };
    try {
      return await attempt();
    } catch (e) {
      this.log.error(`cannot serve ${what}${this.hardFail ? '; exiting (bindAddressHardFail)' : `; trying again every ${this.retryMs / 1000} s`}`, { bindAddress: bind, error: (e as Error).message });
      if (this.hardFail) return false;
    }
    const timer = setInterval(() => {
      attempt().then(() => {
        clearInterval(timer);
        this.log.info(`serving ${what} now`, { bindAddress: bind });
      }, () => {});
    }, this.retryMs);
    timer.unref();
    this.retries.push(timer);
    return true;
  }

  close(): void {
    this.closed = true;
    for (const t of this.retries) clearInterval(t);
    for (const s of this.servers) s.close();
  }
}
