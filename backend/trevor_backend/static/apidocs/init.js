// Starts Swagger UI on the backend's own OpenAPI document (a file, not an inline script, so the
// page's Content-Security-Policy can forbid inline code). validatorUrl: null keeps Swagger UI
// from sending the document to an outside validator.
window.ui = SwaggerUIBundle({
  url: '/api/v1/openapi.json',
  dom_id: '#swagger-ui',
  validatorUrl: null,
  deepLinking: true,
  tryItOutEnabled: false,
  persistAuthorization: false
});
