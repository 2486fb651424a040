import { native } from './binding.js';

/**
 * Hears of every address change of the network namespace it was opened in (rtnetlink
 * notifications), and with `links` of every link change too: a new device, a device given a
 * master, one going away. Polled, not pushed: whoever owns it asks `changed()` on its own schedule.
 */
export class LinkWatch {
  private fd: number;

  private constructor(fd: number) {
    this.fd = fd;
  }

  static open(opts: { links: boolean }): LinkWatch {
    return new LinkWatch(native().linkWatchOpen(opts.links));
  }

  /** Whether anything changed since the last call (or since open). */
  changed(): boolean {
    if (this.fd < 0) throw new Error('link watch is closed');
    return native().linkWatchDrain(this.fd) > 0;
  }

  close(): void {
    if (this.fd >= 0) native().closeFd(this.fd);
    this.fd = -1;
  }
}
