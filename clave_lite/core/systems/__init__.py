"""Built-in value systems, one YAML file each (see clave_lite.core.valuesystem)."""
