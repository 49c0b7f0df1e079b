// Starts Swagger UI on /docs. A file, not an inline script, so that the page's
// Content-Security-Policy can allow scripts from this server only (api/headers.py).
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
