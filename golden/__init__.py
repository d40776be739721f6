"""gammacore.golden"""
