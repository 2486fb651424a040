import { native } from './binding.js';

/**
 * Hears of every link and address change of the network namespace it was opened in (rtnetlink
 * notifications): a new device, a device given a master or an address, one going away. Polled,
 * not pushed: whoever owns it asks `changed()` on its own schedule.
 */
export class LinkWatch {
  private fd: number;

  private constructor(fd: number) {
    this.fd = fd;
  }

  static open(): LinkWatch {
    return new LinkWatch(native().linkWatchOpen());
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
