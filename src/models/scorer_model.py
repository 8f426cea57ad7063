"""MLflow models-from-code definition of the exported scorer.

MLflow runs this file when it loads the model (it is not imported by the package): the
model object is defined by code, its state lives in the native-format artifacts, and no
pickle is written.
"""

import mlflow.models

from creditrisk.models.pyfunc import CreditScorer

mlflow.models.set_model(CreditScorer())
