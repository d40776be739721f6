"""gammacore.sim"""
