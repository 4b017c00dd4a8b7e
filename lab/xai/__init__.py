"""Attribution: datasets, classifiers, attribution methods (Captum, SHAP, LIME) and their comparison."""
