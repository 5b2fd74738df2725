// One-Euro filter (dkd_tf/one_euro.py), element-wise over a Float64Array of fixed length.
//   alpha(fc) = 1 / (1 + 1 / (2 pi fc dt)); dx = (x - x_prev_raw) * value_scale / dt;
//   edx += alpha(d_cutoff) (dx - edx); fc = min_cutoff + beta |edx|; y += alpha(fc) (x - y).
// The first sample passes through; non-finite values restart their element.

function smoothingFactor(cutoff, dt) {
  const tau = 1.0 / (2.0 * Math.PI * cutoff);
  return 1.0 / (1.0 + tau / dt);
}

export class OneEuroFilter {
  constructor(minCutoff = 1.0, beta = 0.0, dCutoff = 1.0, rate = 30.0) {
    if (!(minCutoff > 0 && dCutoff > 0 && beta >= 0 && rate > 0)) {
      throw new Error(`One-Euro needs min_cutoff > 0, d_cutoff > 0, beta >= 0, rate > 0 ` +
                      `(got ${minCutoff}, ${dCutoff}, ${beta}, ${rate})`);
    }
    Object.assign(this, {minCutoff, beta, dCutoff, rate});
    this.reset();
  }

  reset() { this.xRaw = null; this.y = null; this.dx = null; this.t = null; }

  /** x: array of numbers; t: seconds (null = previous + 1 / rate) -> Float64Array. */
  filter(x, t = null, valueScale = 1.0) {
    x = Float64Array.from(x);
    if (t === null) t = this.t === null ? 0.0 : this.t + 1.0 / this.rate;
    if (this.y === null || this.y.length !== x.length) {
      this.xRaw = x; this.y = Float64Array.from(x); this.dx = new Float64Array(x.length);
      this.t = t;
      return Float64Array.from(x);
    }
    if (t <= this.t) t = this.t + 1.0 / this.rate; // a repeated or backwards stamp
    const dt = t - this.t;
    const aD = smoothingFactor(this.dCutoff, dt);
    for (let i = 0; i < x.length; i++) {
      const fresh = !Number.isFinite(this.y[i]) || !Number.isFinite(x[i]);
      const dx = (x[i] - this.xRaw[i]) * (valueScale / dt);
      const edx = this.dx[i] + aD * (dx - this.dx[i]);
      const cutoff = this.minCutoff + this.beta * Math.abs(edx);
      const y = this.y[i] + smoothingFactor(cutoff, dt) * (x[i] - this.y[i]);
      this.y[i] = fresh ? x[i] : y;
      this.dx[i] = fresh ? 0.0 : edx;
    }
    this.xRaw = x; this.t = t;
    return Float64Array.from(this.y);
  }
}
