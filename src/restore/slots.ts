/** A FIFO counting semaphore for restore's budgets: bytes asked for ahead, files, open descriptors. */

/** A FIFO counting semaphore; a weight above the total is let through when nothing else is held. */
export interface Slots {
  take(weight?: number): Promise<void>;
  give(weight?: number): void;
}

/** Creates a semaphore with n units. */
export function createSlots(n: number): Slots {
  let free = n;
  const waiting: { weight: number; go: () => void }[] = [];
  const fits = (w: number) => free >= w || free === n;
  return {
    take(weight = 1) {
      if (waiting.length === 0 && fits(weight)) {
        free -= weight;
        return Promise.resolve();
      }
      return new Promise<void>((go) => waiting.push({ weight, go }));
    },
    give(weight = 1) {
      free += weight;
      while (waiting.length > 0 && fits(waiting[0].weight)) {
        const next = waiting.shift()!;
        free -= next.weight;
        next.go();
      }
    },
  };
}
