// Files the console imports as text (`with { type: "text" }`) to serve them from the binary.
declare module "htm/preact/standalone.module.js" {
  const text: string;
  export default text;
}
declare module "uplot/dist/uPlot.iife.min.js" {
  const text: string;
  export default text;
}
declare module "*.css" {
  const text: string;
  export default text;
}
declare module "*.page.js" {
  const text: string;
  export default text;
}
