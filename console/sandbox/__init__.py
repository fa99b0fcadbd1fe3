"""The sandbox: sample logs, a verifying receiver with fault injection, and a traffic simulator."""
