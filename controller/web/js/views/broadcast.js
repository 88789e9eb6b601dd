// PLACEHOLDER: being written.
import { fill, h } from "../dom.js";

/** Render the page into main. */
export async function render(main) {
  fill(main, h("h1", {}, "broadcast"));
}
