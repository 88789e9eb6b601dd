// Cuts the microphone into 20 ms blocks of 16-bit PCM and hands each to the page with the
// audio clock frame of its first sample (the page turns that into the capture time).
const BLOCK = 960;

class LoalangMicrophone extends AudioWorkletProcessor {
  constructor() {
    super();
    this.block = new Int16Array(BLOCK);
    this.filled = 0;
    this.firstFrame = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    for (let i = 0; i < channel.length; i++) {
      if (this.filled === 0) this.firstFrame = currentFrame + i;
      const sample = Math.max(-1, Math.min(1, channel[i]));
      this.block[this.filled++] = sample < 0 ? sample * 0x8000 : sample * 0x7fff;
      if (this.filled === BLOCK) {
        this.port.postMessage({ frame: this.firstFrame, pcm: this.block.buffer }, [this.block.buffer]);
        this.block = new Int16Array(BLOCK);
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor("loalang-microphone", LoalangMicrophone);
