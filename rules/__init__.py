"""socmon layer: rules.

pySigma subclasses PyYAML's libyaml loader (``yaml.CSafeLoader``) when it is imported, and the
rule loader reads YAML with it (the pure-Python loader takes minutes on the SigmaHQ corpus):
libyaml is checked before anything of the layer is imported.
"""

from socmon.safe_yaml import require_libyaml

require_libyaml()
