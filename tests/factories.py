"""factory_boy factories with zh_CN fake data."""

import factory
from factory.django import DjangoModelFactory

from agri.models import (
    DemonstrationBase,
    Expert,
    ExtensionWorker,
    Farmer,
    Industry,
    ModelHousehold,
    Role,
    Station,
    TechCommissioner,
    User,
)
from geo.models import AdminDivision

factory.Faker._DEFAULT_LOCALE = "zh_CN"
PASSWORD = "correct-horse-battery-staple"


class DivisionFactory(DjangoModelFactory):
    class Meta:
        model = AdminDivision
        django_get_or_create = ["code"]

    name = factory.Faker("city_name")


class IndustryFactory(DjangoModelFactory):
    class Meta:
        model = Industry
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"industry-{n}")
    name = factory.Sequence(lambda n: f"产业{n}")


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user-{n}")
    role = Role.BUREAU_VIEWER
    jurisdiction = "500235"
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class StationFactory(DjangoModelFactory):
    class Meta:
        model = Station

    name = factory.Sequence(lambda n: f"工作站{n}")
    host_org = factory.Faker("company")
    lat = 30.95
    lon = 108.7


class DemonstrationBaseFactory(DjangoModelFactory):
    class Meta:
        model = DemonstrationBase

    name = factory.Sequence(lambda n: f"示范基地{n}")
    lat = 30.95
    lon = 108.7
    area_mu = 200


class ExpertFactory(DjangoModelFactory):
    class Meta:
        model = Expert

    name = factory.Faker("name")
    phone = factory.Sequence(lambda n: f"138{n:08d}")


class ExtensionWorkerFactory(DjangoModelFactory):
    class Meta:
        model = ExtensionWorker

    name = factory.Faker("name")
    phone = factory.Sequence(lambda n: f"139{n:08d}")


class TechCommissionerFactory(DjangoModelFactory):
    class Meta:
        model = TechCommissioner

    name = factory.Faker("name")
    affiliation = "西南大学"
    service_start_year = 2021
    phone = factory.Sequence(lambda n: f"136{n:08d}")


class ModelHouseholdFactory(DjangoModelFactory):
    class Meta:
        model = ModelHousehold

    head_name = factory.Faker("name")
    phone = factory.Sequence(lambda n: f"135{n:08d}")
    lat = 30.95
    lon = 108.7


class FarmerFactory(DjangoModelFactory):
    class Meta:
        model = Farmer

    name = factory.Faker("name")
    phone = factory.Sequence(lambda n: f"137{n:08d}")
    id_number = "500235198803150025"
    village = factory.SelfAttribute("household.village")
